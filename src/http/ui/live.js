// The live feed: crest's change stream (/v1/scalableTargetDimensions/watch).
// Without a token, an EventSource; with one, fetch() streaming, since an
// EventSource cannot send the Authorization header, and the SSE text is
// parsed here. When the stream ends (crest restarted, network), it says
// "reconnecting" and tries again after 0.5 s, doubling up to 10 s; each
// (re)connection calls onOpen, so the caller reloads what it missed.

import { BASE, headers, token } from './api.js';

const WATCH = `${BASE}/watch`;

export function watch({ onChange, onOpen, onState }) {
  let delay = 500;
  let stopped = false;
  let source = null;
  let controller = null;

  const retry = () => {
    if (stopped) return;
    onState('reconnecting', `reconnecting in ${(delay / 1000).toFixed(1)} s…`);
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 10000);
  };
  const opened = () => {
    delay = 500;
    onState('live', 'live');
    onOpen();
  };
  const dispatch = (event, data) => {
    if (event === 'change') onChange(JSON.parse(data));
    else if (event === 'lagged') onOpen(); // fell behind: reload everything
  };

  function connect() {
    if (stopped) return;
    if (!token()) {
      source = new EventSource(WATCH);
      source.addEventListener('open', opened);
      source.addEventListener('change', (e) => dispatch('change', e.data));
      source.addEventListener('lagged', (e) => dispatch('lagged', e.data));
      source.addEventListener('error', () => {
        source.close();
        source = null;
        retry();
      });
      return;
    }
    controller = new AbortController();
    stream(controller.signal).then(retry, () => { if (!stopped) retry(); });
  }

  async function stream(signal) {
    const res = await fetch(WATCH, { headers: headers({ Accept: 'text/event-stream' }), signal });
    if (!res.ok || !res.body) throw new Error(`watch: HTTP ${res.status}`);
    opened();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = val;
          else if (field === 'data') data.push(val);
        }
        if (data.length) dispatch(event, data.join('\n'));
      }
    }
  }

  connect();
  return () => {
    stopped = true;
    if (source) source.close();
    if (controller) controller.abort();
  };
}

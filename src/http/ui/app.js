// The status page: loads the operations facts (/v1/status) and every
// dimension (the list API, page by page), keeps them current from the
// change stream, and shows the overview (#/) or one dimension (#/d/ID).
// A 401 asks for a bearer token once; it is kept in sessionStorage.

import { ApiError, call, listAll, setToken, token } from './api.js';
import { watch } from './live.js';
import { createOverview } from './overview.js';
import { createDimensionView } from './dimension.js';
import { createForms } from './forms.js';

const byId = new Map();
const $ = (id) => document.getElementById(id);
let stopWatch = null;

function showError(e) {
  const box = $('error');
  if (!e) { box.hidden = true; return; }
  box.textContent = e instanceof ApiError ? `crest answered ${e.status}: ${e.message}` : String(e.message || e);
  box.hidden = false;
}

function setLive(state, text) {
  const live = $('live');
  live.textContent = text;
  live.className = `live ${state}`;
}

const overview = createOverview(byId);
const dimension = createDimensionView({ onError: showError });
const forms = createForms({ currentId: () => dimension.id() });

function route() {
  const m = location.hash.match(/^#\/d\/(.+)$/);
  $('overview').hidden = !!m;
  $('dimension').hidden = !m;
  forms.reset();
  if (m) {
    const id = decodeURIComponent(m[1]);
    dimension.show(id, () => byId.get(id));
    document.title = `${id} – crest status`;
  } else {
    document.title = 'crest status';
    overview.update();
  }
}

function fact(label, value, cls) {
  const div = document.createElement('div');
  if (cls) div.className = cls;
  const dt = document.createElement('dt');
  dt.textContent = label;
  const dd = document.createElement('dd');
  dd.textContent = value;
  div.append(dt, dd);
  return div;
}

function strip(s) {
  const dl = document.createElement('dl');
  const mode = s.mode === 'demo' ? `demo (${s.demoStyle}${s.simulateFailure ? ', failing' : ''})` : 'production';
  dl.append(fact('Mode', mode), fact('Store', s.store));
  dl.append(fact('You', s.caller.role ? `${s.caller.name} (${s.caller.role})` : 'open (no authentication)'));
  for (const c of s.certificates) {
    const warn = c.daysLeft < 14 ? 'warn' : '';
    dl.append(fact(c.role, `${c.daysLeft} days left (until ${c.notAfter})`, warn));
  }
  if (s.acme) {
    dl.append(fact('ACME renewal', s.acme.renewAt || 'not planned'));
    dl.append(fact('ACME last error', s.acme.lastError || 'none', s.acme.lastError ? 'warn' : ''));
  }
  $('strip').replaceChildren(dl);
  forms.mode(s.mode);
}

async function reload() {
  const all = await listAll((n) => { $('count').textContent = `(loading… ${n})`; });
  byId.clear();
  for (const d of all) byId.set(d.scalableTargetDimensionId, d);
  overview.update();
  const shown = dimension.id() && byId.get(dimension.id());
  if (shown && !$('dimension').hidden) dimension.changed(shown);
}

function onChange(d) {
  const old = byId.get(d.scalableTargetDimensionId);
  if (old && old.revision > d.revision) return;
  // The stream sends no bounds: keep the ones the list gave.
  byId.set(d.scalableTargetDimensionId, { minCapacity: old?.minCapacity, maxCapacity: old?.maxCapacity, ...d });
  overview.changed(byId.get(d.scalableTargetDimensionId), old);
  dimension.changed(byId.get(d.scalableTargetDimensionId));
}

async function start() {
  showError(null);
  try {
    strip(await call('/v1/status'));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      $('login').hidden = false;
      $('login-why').textContent = token()
        ? `crest refused this token: ${e.message}`
        : 'This crest needs a bearer token. It is kept in this tab only (sessionStorage).';
      setLive('off', 'needs a token');
      $('token').focus();
      return;
    }
    showError(e);
  }
  $('login').hidden = true;
  if (stopWatch) stopWatch();
  stopWatch = watch({
    onChange,
    onOpen: () => reload().then(() => showError(null), showError),
    onState: setLive,
  });
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setToken($('token').value.trim());
  $('token').value = '';
  start();
});
window.addEventListener('hashchange', route);
route();
start();

// Test by hand: the PATCH AAS sends (desiredCapacity) and, in production
// mode, the one the scaler sends (actualCapacity, scalingStatus,
// failureReason). Both go through the API with the viewer's credentials,
// so roles apply; the answer (or crest's refusal) is shown with the curl
// command that does the same.

import { call, curlPatch, dimPath } from './api.js';

export function createForms({ currentId }) {
  const result = document.getElementById('result');
  const text = document.getElementById('result-text');
  const curl = document.getElementById('curl');

  async function send(body) {
    const id = currentId();
    if (!id) return;
    curl.textContent = curlPatch(id, body);
    result.hidden = false;
    result.className = 'result';
    text.textContent = 'sending…';
    try {
      const d = await call(dimPath(id), {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      text.textContent = `Done: desired ${d.desiredCapacity}, actual ${d.actualCapacity}, ${d.scalingStatus}.`;
      result.className = 'result ok';
    } catch (e) {
      text.textContent = `Refused (${e.status ?? 'network'}): ${e.message}`;
      result.className = 'result refused';
    }
  }

  document.getElementById('aas-form').addEventListener('submit', (e) => {
    e.preventDefault();
    send({ desiredCapacity: Number(document.getElementById('aas-desired').value) });
  });

  document.getElementById('scaler-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const body = {};
    const actual = document.getElementById('sc-actual').value;
    const status = document.getElementById('sc-status').value;
    const reason = document.getElementById('sc-reason').value;
    if (actual !== '') body.actualCapacity = Number(actual);
    if (status) body.scalingStatus = status;
    if (reason) body.failureReason = reason;
    send(body);
  });

  return {
    /** The scaler's form only in production mode (in demo mode crest is the scaler). */
    mode(mode) {
      document.getElementById('scaler-form').hidden = mode !== 'production';
    },
    reset() {
      result.hidden = true;
    },
  };
}

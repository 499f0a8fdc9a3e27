// Calls to crest's API from this origin, with the bearer token when the
// viewer gave one (kept in sessionStorage: this tab only; over HTTPS
// without one, the browser sends its client certificate), and the curl
// line that does the same (with $CREST_TOKEN, never the token).

const KEY = 'crest.token';
export const BASE = '/v1/scalableTargetDimensions';

export function token() {
  return sessionStorage.getItem(KEY) || '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

export function headers(extra = {}) {
  const h = { Accept: 'application/json', ...extra };
  if (token()) h.Authorization = 'Bearer ' + token();
  return h;
}

/** An answer that was not 2xx: its status and crest's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** JSON from `path`; throws ApiError with crest's message on 4xx/5xx. */
export async function call(path, options = {}) {
  const res = await fetch(path, { ...options, headers: headers(options.headers) });
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!res.ok) {
    throw new ApiError(res.status, (body && body.message) || `HTTP ${res.status}`);
  }
  return body;
}

export function dimPath(id) {
  return `${BASE}/${encodeURIComponent(id)}`;
}

/** Every dimension, page by page (1000 per page) through the list API. */
export async function listAll(onPage) {
  let after = null;
  const all = [];
  for (;;) {
    const q = new URLSearchParams({ limit: '1000' });
    if (after !== null) q.set('after', after);
    const page = await call(`${BASE}?${q}`);
    all.push(...page.dimensions);
    if (onPage) onPage(all.length);
    if (!page.nextAfter) return all;
    after = page.nextAfter;
  }
}

/** A dimension's history, newest first, up to `max` entries. */
export async function history(id, max = 5000) {
  let before = null;
  const all = [];
  while (all.length < max) {
    const q = new URLSearchParams({ limit: '1000' });
    if (before !== null) q.set('before', String(before));
    const page = await call(`${dimPath(id)}/history?${q}`);
    all.push(...page.entries);
    if (!page.nextBefore) break;
    before = page.nextBefore;
  }
  return all;
}

function quote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/** The curl command for a PATCH of `body` to dimension `id`. */
export function curlPatch(id, body) {
  const url = new URL(dimPath(id), location.href).href;
  const parts = ['curl', '-X PATCH', quote(url), `-H 'Content-Type: application/json'`];
  if (token()) parts.push('-H "Authorization: Bearer $CREST_TOKEN"');
  else if (location.protocol === 'https:') parts.push('--cert client.pem --key client.key');
  parts.push('-d', quote(JSON.stringify(body)));
  return parts.join(' ');
}

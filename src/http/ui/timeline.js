// A dimension's timeline from its history: the state after each stored
// change (one step per history entry), and the scaling activities — from
// the change that started one (Pending, or InProgress from a finished
// state) to the one that ended it (Successful or Failed), with how long it
// took. The history may be cut (history_limit, history_max_age), so the
// states are rebuilt backwards from the current dimension: each entry's
// old values give the state before it.

const FIELDS = ['desiredCapacity', 'actualCapacity', 'scalingStatus', 'failureReason'];

/** Points, oldest first: {t, revision, desired, actual, status, reason, entry}. */
export function points(current, entries) {
  let state = {};
  for (const f of FIELDS) state[f] = current[f] ?? null;
  const out = [];
  for (const entry of entries) { // newest first
    if (entry.revision > current.revision) continue;
    out.push({
      t: Date.parse(entry.time),
      revision: entry.revision,
      desired: state.desiredCapacity,
      actual: state.actualCapacity,
      status: state.scalingStatus,
      reason: state.failureReason,
      entry,
    });
    const before = { ...state };
    for (const c of entry.changes) {
      if (FIELDS.includes(c.field)) before[c.field] = c.old;
    }
    state = before;
  }
  return out.reverse();
}

const FINISHED = ['Successful', 'Failed'];

/** Activities, oldest first: {start, end (null while running), to, outcome, reason, ms}. */
export function activities(pts, now = Date.now()) {
  const out = [];
  let open = null;
  let previous = null;
  for (const p of pts) {
    const starts = !open && (p.status === 'Pending' || p.status === 'InProgress')
      && (!previous || FINISHED.includes(previous.status));
    if (starts) open = { start: p.t, to: p.desired, end: null, outcome: 'running', reason: null };
    if (open) {
      open.to = p.desired;
      if (FINISHED.includes(p.status)) {
        open.end = p.t;
        open.outcome = p.status;
        open.reason = p.status === 'Failed' ? p.reason : null;
        out.push(open);
        open = null;
      }
    }
    previous = p;
  }
  if (open) out.push(open);
  for (const a of out) a.ms = (a.end ?? now) - a.start;
  return out;
}

export function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3600000) return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
  return `${Math.floor(ms / 3600000)} h ${Math.round((ms % 3600000) / 60000)} min`;
}

/** "who" of a history entry: method, then token name or certificate. */
export function who(entry) {
  const s = entry.source || {};
  return [s.method, s.client].filter(Boolean).join(' by ') || 'unknown';
}

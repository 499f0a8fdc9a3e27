// One dimension: its current state, the capacity chart, the list of
// scaling activities and the history table (who changed what). The
// dimension itself comes from the overview's data (a plain GET would
// advance a demo scaling, so the page never sends one); the history from
// the history API, reloaded when the dimension changes.

import { history } from './api.js';
import { chart } from './chart.js';
import { activities, duration, points, who } from './timeline.js';
import { badge, bounds } from './overview.js';

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.append(td);
  return td;
}

function changes(entry) {
  const parts = entry.changes.map((c) => `${c.field}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)}`);
  if (entry.created) parts.unshift('created');
  return parts.join('; ');
}

export function createDimensionView({ onError }) {
  const [title, nowLine, chartBox, actBody, histBody] = ['#dim-title', '#dim-now', '#chart',
    '#activities tbody', '#history tbody'].map((s) => document.querySelector(s));
  let id = null;
  let loading = null;
  let again = false;

  function summary(d) {
    title.textContent = d.scalableTargetDimensionId;
    const reason = d.failureReason ? ` (${d.failureReason})` : '';
    nowLine.replaceChildren();
    nowLine.append(`${d.resourceName} / ${d.dimensionName}: desired ${d.desiredCapacity}, actual ${d.actualCapacity}, `,
      badge(d.scalingStatus), `${reason}; bounds ${bounds(d)}; revision ${d.revision}`);
  }

  function render(d, entries) {
    const now = Date.now();
    const pts = points(d, entries);
    const acts = activities(pts, now);
    chartBox.replaceChildren(chart(pts, acts, now));
    const rows = acts.slice().reverse().map((a) => {
      const tr = document.createElement('tr');
      tr.className = a.outcome === 'Failed' ? 'failed' : '';
      cell(tr, new Date(a.start).toISOString());
      cell(tr, a.to, 'num');
      cell(tr, a.outcome === 'running' ? 'in progress' : a.outcome);
      cell(tr, duration(a.ms));
      cell(tr, a.reason || '');
      return tr;
    });
    actBody.replaceChildren(...rows);
    histBody.replaceChildren(...entries.map((e) => {
      const tr = document.createElement('tr');
      cell(tr, e.revision, 'num');
      cell(tr, e.time);
      cell(tr, who(e));
      cell(tr, changes(e));
      return tr;
    }));
  }

  /** Loads the history of `d` (one load at a time; a change during it loads again). */
  async function load(d) {
    if (loading) { again = true; return; }
    loading = d.scalableTargetDimensionId;
    try {
      const entries = await history(d.scalableTargetDimensionId);
      const now = current();
      if (id === loading && now) render(now, entries);
    } catch (e) {
      onError(e);
    } finally {
      loading = null;
      const next = current();
      if (again && next) { again = false; load(next); }
    }
  }

  let getCurrent = () => null;
  const current = () => getCurrent();

  return {
    /** Shows dimension `newId`; `lookup` returns its latest state. */
    show(newId, lookup) {
      getCurrent = lookup;
      id = newId;
      const d = lookup();
      if (!d) {
        title.textContent = newId;
        nowLine.textContent = 'No such dimension (yet).';
        chartBox.replaceChildren();
        actBody.replaceChildren();
        histBody.replaceChildren();
        return;
      }
      summary(d);
      load(d);
    },
    /** A change of any dimension: refresh when it is the one shown. */
    changed(d) {
      if (id !== d.scalableTargetDimensionId) return;
      summary(d);
      load(d);
    },
    id: () => id,
  };
}

// The capacity chart: desired and actual as step lines against time, one
// marked step (class "step") per history entry, scaling activities shaded
// from start to end (green: Successful, red: Failed, grey: running), each
// labelled with its duration, failures marked ✕ with their reason.
// Hand-written SVG; no library.

import { duration } from './timeline.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 900;
const H = 320;
const PAD = { l: 48, r: 16, t: 16, b: 56 };

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function titled(node, text) {
  node.append(el('title', {}, text));
  return node;
}

function time(t) {
  return new Date(t).toISOString().replace('T', ' ').slice(0, 19);
}

export function chart(pts, acts, now = Date.now()) {
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'capacity' });
  svg.append(el('title', {}, `Capacity chart: ${pts.length} changes, ${acts.length} scaling activities`));
  if (!pts.length) {
    svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no history'));
    return svg;
  }
  const t0 = pts[0].t;
  const t1 = Math.max(now, pts[pts.length - 1].t + 1000);
  const top = Math.max(1, ...pts.map((p) => Math.max(p.desired ?? 0, p.actual ?? 0))) * 1.15;
  const x = (t) => PAD.l + ((t - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - ((v ?? 0) / top) * (H - PAD.t - PAD.b);

  // Axes and ticks.
  const axes = el('g', { class: 'axes' });
  axes.append(el('line', { x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b }));
  axes.append(el('line', { x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: H - PAD.b }));
  for (const v of [0, top / 2.3, top / 1.15]) {
    axes.append(el('text', { x: PAD.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, +v.toFixed(1)));
  }
  axes.append(el('text', { x: PAD.l, y: H - PAD.b + 18 }, time(t0)));
  axes.append(el('text', { x: W - PAD.r, y: H - PAD.b + 18, 'text-anchor': 'end' }, time(t1)));
  svg.append(axes);

  // Activities, under the lines.
  const shades = el('g', { class: 'activities' });
  const marks = el('g', { class: 'failures' }); // drawn over the lines
  for (const a of acts) {
    const x1 = x(a.start);
    const x2 = Math.max(x(a.end ?? now), x1 + 2);
    const cls = a.outcome === 'Successful' ? 'act-ok' : a.outcome === 'Failed' ? 'act-fail' : 'act-open';
    const what = `${a.outcome} scaling to ${a.to}, ${duration(a.ms)}${a.reason ? `: ${a.reason}` : ''}`;
    shades.append(titled(el('rect', { x: x1, y: PAD.t, width: x2 - x1, height: H - PAD.t - PAD.b, class: cls }), what));
    shades.append(el('text', { x: (x1 + x2) / 2, y: PAD.t + 12, 'text-anchor': 'middle', class: 'took' }, duration(a.ms)));
    if (a.outcome === 'Failed') {
      const mark = el('text', { x: x2, y: PAD.t + 28, 'text-anchor': 'middle', class: 'fail-mark' }, '✕');
      marks.append(titled(mark, `Failed: ${a.reason || 'no reason given'}`));
      if (a.reason) marks.append(el('text', { x: x2 + 6, y: PAD.t + 44, class: 'fail-reason' }, a.reason.slice(0, 40)));
    }
  }
  svg.append(shades);

  // Step lines: each value holds until the next change, the last until now.
  const line = (key, cls) => {
    let d = `M ${x(pts[0].t)} ${y(pts[0][key])}`;
    for (let i = 1; i < pts.length; i++) d += ` H ${x(pts[i].t)} V ${y(pts[i][key])}`;
    d += ` H ${x(t1)}`;
    return el('path', { d, class: cls });
  };
  svg.append(line('desired', 'desired'), line('actual', 'actual'));

  // One marker per history entry.
  const steps = el('g', { class: 'steps' });
  for (const p of pts) {
    const c = el('circle', { cx: x(p.t), cy: y(p.desired), r: 3.5, class: 'step', 'data-revision': p.revision });
    steps.append(titled(c, `revision ${p.revision} at ${time(p.t)}: desired ${p.desired}, actual ${p.actual}, ${p.status}`));
  }
  svg.append(steps, marks);

  // Legend.
  const legend = el('g', { class: 'legend' });
  const ly = H - 12;
  const key = [['desired', 'desired capacity'], ['actual', 'actual capacity'], ['act-ok', 'Successful scaling'],
    ['act-fail', 'Failed scaling'], ['act-open', 'scaling in progress']];
  let lx = PAD.l;
  for (const [cls, label] of key) {
    if (cls.startsWith('act-')) legend.append(el('rect', { x: lx, y: ly - 10, width: 24, height: 12, class: cls }));
    else legend.append(el('line', { x1: lx, y1: ly - 4, x2: lx + 24, y2: ly - 4, class: cls }));
    legend.append(el('text', { x: lx + 30, y: ly }, label));
    lx += 40 + label.length * 7;
  }
  svg.append(legend);
  return svg;
}

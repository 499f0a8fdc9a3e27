// The overview: every dimension in one table, most recent change first,
// filtered by id and status. All dimensions are kept (10,000 is fine);
// the table shows the first 500 that match, and "Show more" adds 500.

const PAGE = 500;

/** The status as text in a coloured box (readable without the colour). */
export function badge(status) {
  const span = document.createElement('span');
  span.className = `status s-${status}`;
  span.textContent = status;
  return span;
}

function statusCell(status) {
  const td = document.createElement('td');
  td.append(badge(status));
  return td;
}

export function bounds(d) {
  const min = d.minCapacity ?? null;
  const max = d.maxCapacity ?? null;
  if (min === null && max === null) return '–';
  return `${min ?? '0'} – ${max ?? '∞'}`;
}

export function ago(iso, now = Date.now()) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function createOverview(byId) {
  const tbody = document.querySelector('#dims tbody');
  const idInput = document.getElementById('filter-id');
  const statusInput = document.getElementById('filter-status');
  const more = document.getElementById('more');
  const count = document.getElementById('count');
  let shown = PAGE;
  let pending = false;

  function matching() {
    const rows = [];
    for (const d of byId.values()) {
      if (passes(d)) rows.push(d);
    }
    // Most recent change first; revision breaks ties, then the id.
    rows.sort((a, b) => (b.changedAt || '').localeCompare(a.changedAt || '')
      || b.revision - a.revision
      || a.scalableTargetDimensionId.localeCompare(b.scalableTargetDimensionId));
    return rows;
  }

  function row(d, now) {
    const tr = document.createElement('tr');
    tr.dataset.id = d.scalableTargetDimensionId;
    const cell = (text, cls) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      return td;
    };
    const link = document.createElement('a');
    link.href = `#/d/${encodeURIComponent(d.scalableTargetDimensionId)}`;
    link.textContent = d.scalableTargetDimensionId;
    const first = document.createElement('th');
    first.scope = 'row';
    first.append(link);
    const changed = cell(ago(d.changedAt, now));
    if (d.changedAt) changed.title = d.changedAt;
    tr.append(first, cell(d.resourceName), cell(d.dimensionName), cell(d.desiredCapacity, 'num'),
      cell(d.actualCapacity, 'num'), statusCell(d.scalingStatus), cell(d.failureReason || ''),
      cell(bounds(d)), cell(d.revision, 'num'), changed);
    return tr;
  }

  let matched = 0;

  function counts() {
    const total = byId.size;
    count.textContent = matched === total ? `(${total})` : `(${matched} of ${total})`;
    more.hidden = matched <= shown;
    more.textContent = `Show ${Math.min(PAGE, matched - shown)} more of ${matched - shown}`;
  }

  function render() {
    pending = false;
    const rows = matching();
    const now = Date.now();
    const fragment = document.createDocumentFragment();
    for (const d of rows.slice(0, shown)) fragment.append(row(d, now));
    tbody.replaceChildren(fragment);
    matched = rows.length;
    counts();
  }

  /** Re-renders at most once per frame, however many changes arrive. */
  function update() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(render);
  }

  /**
   * One dimension changed (`old`: before, or undefined when new). Its
   * change is the most recent, so its row moves to the top: done in place
   * when it can be, so a table of thousands of rows keeps up; otherwise
   * (no time known, a render already due) the whole table is drawn again.
   */
  function changed(d, old) {
    const first = tbody.firstElementChild;
    const newest = !first || (d.changedAt && d.changedAt >= (byId.get(first.dataset.id)?.changedAt || ''));
    if (pending || !newest) { update(); return; }
    const wasIn = old && passes(old);
    const isIn = passes(d);
    const existing = [...tbody.children].find((tr) => tr.dataset.id === d.scalableTargetDimensionId);
    if (existing) existing.remove();
    if (isIn) tbody.prepend(row(d, Date.now()));
    matched += (isIn ? 1 : 0) - (wasIn ? 1 : 0);
    while (tbody.children.length > Math.min(shown, matched)) tbody.lastElementChild.remove();
    // A row left the table: the next one must come up (a full render).
    if (tbody.children.length < Math.min(shown, matched)) { update(); return; }
    counts();
  }

  function passes(d) {
    const needle = idInput.value.trim();
    const status = statusInput.value;
    return (!status || d.scalingStatus === status) && (!needle || d.scalableTargetDimensionId.includes(needle));
  }

  idInput.addEventListener('input', () => { shown = PAGE; update(); });
  statusInput.addEventListener('change', () => { shown = PAGE; update(); });
  document.getElementById('filters').addEventListener('submit', (e) => e.preventDefault());
  more.addEventListener('click', () => { shown += PAGE; update(); });
  setInterval(update, 10000); // keep "x s ago" current
  return { update, changed };
}

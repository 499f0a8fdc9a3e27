#!/usr/bin/env bash
# The cost of reading history pages from SQLite, per crest build: for each
# BIN, a new file migrated by that build (`crest migrate`), IDS dimensions
# with ENTRIES history entries each (bench/seed_history.py), then crest's
# history statement (`reader::HISTORY_PAGE`) for pages of 100 and 1,000
# entries of random dimensions, with Python's sqlite3 (its own cost is in
# both figures). Compares table layouts (bench/README.md, eighth round).
#
#   bash bench/history_read.sh BIN [BIN...]      # IDS=1000 ENTRIES=1000 by default
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/bench/lib.sh"
bench_need history_read.sh "apt-get install -y python3" python3
[ $# -ge 1 ] || { echo "usage: bash bench/history_read.sh BIN [BIN...]" >&2; exit 2; }
IDS="${IDS:-1000}"
ENTRIES="${ENTRIES:-1000}"
bench_work
n=0
for BIN in "$@"; do
    n=$((n + 1))
    "$BIN" migrate --store "sqlite:$WORK/$n.db" >/dev/null 2>&1
    python3 "$ROOT/bench/seed_history.py" "$WORK/$n.db" "$IDS" "$ENTRIES"
    python3 - "$WORK/$n.db" "$BIN" "$IDS" "$ENTRIES" <<'PY'
import random, sqlite3, sys, time
path, binary, ids, entries = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
db.execute("PRAGMA cache_size = -4096")  # crest's readers' page cache
page = ("SELECT revision, at, created, method, client, request_id, changes FROM history"
        " WHERE dimension_id = ?1 AND revision < ?2 AND at >= ?3 ORDER BY revision DESC LIMIT ?4")
random.seed(1)
out = []
for limit, reads in ((100, 3000), (1000, 500)):
    chosen = [f"bench-{random.randint(1, ids)}" for _ in range(reads)]
    start = time.perf_counter()
    for i in chosen:
        db.execute(page, (i, 1 << 62, 0, limit)).fetchall()
    out.append(f"{limit} entries {(time.perf_counter() - start) / reads * 1e6:,.0f} us")
print(f"{binary}: {ids} dimensions x {entries} entries; a page of " + ", of ".join(out))
PY
done

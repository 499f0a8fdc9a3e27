#!/usr/bin/env bash
# Instructions and allocations per GET in crest's own process, counted by
# valgrind's callgrind: repeatable whatever else the machine is doing (it
# counts instructions, not time; the kernel's share is not in it). Used for
# the A/B steps of the performance work (bench/README.md).
#
#   bash bench/callgrind.sh [CREST_BIN] [IDS] [SECONDS] [SCRIPT]
#
# Seeds an SQLite store with IDS dimensions (default 1,000: every GET is a
# cached read; 1000000: almost every GET reads SQLite), starts crest under
# callgrind, zeroes the counts once it is ready, drives wrk (get.lua, c=16,
# random ids) for SECONDS, dumps, and prints instructions and malloc calls
# per request. CREST_BIN may also be target/release/examples/floor (the bare
# hyper server of the bench's floor row). SCRIPT is a wrk script of bench/lua/ (default get.lua;
# patch.lua for durable PATCHes). CALLGRIND_KEEP=FILE keeps callgrind's
# output there, for callgrind_annotate. CALLGRIND_STORE=file: crest on the
# file store, its IDS dimensions registered with PUT (as bench.py seeds it)
# before the counts are zeroed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-$ROOT/target/release/crest}"
IDS="${2:-1000}"
SECONDS_="${3:-8}"
SCRIPT="${4:-get.lua}"
source "$ROOT/bench/lib.sh"
bench_need callgrind.sh "apt-get install -y valgrind wrk curl" valgrind callgrind_control wrk python3 curl
bench_work
if [ "$(basename "$BIN")" = floor ]; then
    # examples/floor.rs (the bench's floor row): no store, any path answers.
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$BIN" "127.0.0.1:$port" >"$WORK/log" 2>&1 &
    pid=$!
    bench_wait "http://127.0.0.1:$port/"
elif [ "${CALLGRIND_STORE:-sqlite}" = file ]; then
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$BIN" serve --listen "127.0.0.1:$port" \
        --store "file:$WORK/f" --mode production --log-level warn >"$WORK/log" 2>&1 &
    pid=$!
    bench_wait "http://127.0.0.1:$port/readyz"
    # bench.py's own seeding (its temp dir goes at exit)
    python3 - "$ROOT/bench" "$port" "$IDS" <<'PY'
import sys, types
sys.path.insert(0, sys.argv[1])
import bench
bench.seed_file_via_http(types.SimpleNamespace(port=int(sys.argv[2])), int(sys.argv[3]), "bench-")
PY
else
"$BIN" migrate --store "sqlite:$WORK/c.db" >/dev/null 2>&1
python3 "$ROOT/bench/seed_sqlite.py" "$WORK/c.db" "$IDS"
valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$BIN" serve --listen "127.0.0.1:$port" \
    --store "sqlite:$WORK/c.db" --mode production --log-level warn >"$WORK/log" 2>&1 &
pid=$!
bench_wait "http://127.0.0.1:$port/readyz"
fi
callgrind_control -z "$pid" >/dev/null 2>&1
out=$(BENCH_IDS="$IDS" wrk -t1 -c16 -d"${SECONDS_}s" -s "$ROOT/bench/lua/$SCRIPT" "http://127.0.0.1:$port")
callgrind_control -d "$pid" >/dev/null 2>&1
[ -z "${CALLGRIND_KEEP:-}" ] || cp "$WORK/cg.out.1" "$CALLGRIND_KEEP"
requests=$(echo "$out" | awk '/requests in/ {print $1}')
python3 - "$WORK/cg.out.1" "$requests" "$BIN" "$IDS" "$SCRIPT" <<'PY'
import re, sys
path, requests = sys.argv[1], int(sys.argv[2])
total = mallocs = 0
names, pending = {}, None
for line in open(path, errors="replace"):
    if line.startswith("summary:") or line.startswith("totals:"):
        total = int(line.split()[1])
    elif line.startswith(("fn=", "cfn=")):
        # name compression: "(id) name" the first time, "(id)" after
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.strip())
        if m and m.group(2):
            names[m.group(1)] = m.group(2)
        if line.startswith("cfn="):
            pending = names.get(m.group(1)) if m else None
    elif line.startswith("calls=") and pending is not None:
        # glibc's malloc (the floor), or mimalloc's entries (crest's allocator)
        if pending in ("malloc", "mi_malloc_aligned", "mi_zalloc_aligned"):
            mallocs += int(line[6:].split()[0])
        pending = None
print(f"{sys.argv[3]}: {sys.argv[5]}, {sys.argv[4]} ids, {requests} requests: {total // requests:,} "
      f"instructions and {mallocs / requests:.1f} malloc calls per request")
PY

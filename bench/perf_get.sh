#!/usr/bin/env bash
# Where a GET's time goes, kernel included: `perf record` (cpu-clock, the
# software event: this machine's VM has no hardware counters) on crest while
# wrk drives get.lua, pinned as bench/run.sh pins (crest on CPU 0, wrk on
# CPU 1). Where callgrind.sh counts instructions in crest's process, this
# times everything crest's CPU does for it: system calls, the network stack,
# waking wrk. Used for the SCALE row (bench/README.md, "Seventh round").
#
#   bash bench/perf_get.sh [CREST_BIN] [IDS] [SECONDS]
#
# Seeds an SQLite store with IDS dimensions (default 1,000; 1000000 for the
# SCALE row's reads), starts crest, warms it up for 3 s, records SECONDS
# (default 6) of wrk's load, and prints the rate (under perf: lower than
# without), the share of each program and the top symbols by own time in
# microseconds per request. PERF_KEEP=FILE keeps perf's data for `perf report`.
# PERF_LUA=patch.lua times durable PATCHes instead (bench/README.md, "Eighth
# round"); any script of bench/lua/ that reads BENCH_IDS works.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-$ROOT/target/release/crest}"
IDS="${2:-1000}"
SECONDS_="${3:-6}"
source "$ROOT/bench/lib.sh"
bench_need perf_get.sh "apt-get install -y linux-perf wrk curl" perf wrk python3 curl taskset
bench_work
"$BIN" migrate --store "sqlite:$WORK/c.db" >/dev/null 2>&1
python3 "$ROOT/bench/seed_sqlite.py" "$WORK/c.db" "$IDS"
sync
taskset -c 0 "$BIN" serve --listen "127.0.0.1:$port" --store "sqlite:$WORK/c.db" --mode production --log-level warn >"$WORK/log" 2>&1 &
pid=$!
bench_wait "http://127.0.0.1:$port/readyz"
load() { BENCH_IDS="$IDS" taskset -c 1 wrk -t1 -c16 -d"$1s" -s "$ROOT/bench/lua/${PERF_LUA:-get.lua}" "http://127.0.0.1:$port"; }
load 3 >/dev/null
perf record -q -e cpu-clock -F 4999 -g -p "$pid" -o "$WORK/perf.data" -- sleep "$SECONDS_" >/dev/null 2>&1 &
recorder=$!
out=$(load "$SECONDS_")
wait "$recorder"
[ -z "${PERF_KEEP:-}" ] || cp "$WORK/perf.data" "$PERF_KEEP"
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
echo "$(basename "$BIN"): ${PERF_LUA:-get.lua}, $IDS ids, $rps requests/s under perf"
perf report -i "$WORK/perf.data" --no-children --sort dso -q -g none 2>/dev/null | head -4
perf report -i "$WORK/perf.data" --no-children --sort sym -q -g none 2>/dev/null |
    awk -v rps="$rps" 'NR <= 25 {
        share = $1; sub("%", "", share); $1 = ""
        printf "%7.2f us/request %s\n", share * 1e4 / rps, $0 }'

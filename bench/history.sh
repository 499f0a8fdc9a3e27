#!/usr/bin/env bash
# Durable PATCHes on dimensions whose history is full: IDS SQLite dimensions,
# each with ENTRIES history entries (default 1,000: crest's default
# history_limit, the steady state of a dimension changed that often), so
# that every change also trims its dimension's oldest entry. Prints req/s
# and p99 of wrk's patch.lua (c=16) and the entries stored after the run
# (each change adds one and trims one: still IDS x ENTRIES). crest is pinned
# to CPU 0 and wrk to CPU 1, as in bench/run.sh. Used for the history trim
# of the fifth round (bench/README.md); works with crest binaries from
# before and after migration 20261207000008 (which dropped `updated_at`).
#
#   bash bench/history.sh [CREST_BIN] [IDS] [ENTRIES] [SECONDS]
#
# HISTORY_THREADS=1 also prints, for each of crest's threads, its time on the
# CPU and its time runnable but waiting for the CPU during the run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-$ROOT/target/release/crest}"
IDS="${2:-100}"
ENTRIES="${3:-1000}"
SECONDS_="${4:-10}"
source "$ROOT/bench/lib.sh"
bench_need history.sh "apt-get install -y wrk python3 curl util-linux" wrk python3 curl taskset
bench_work
"$BIN" migrate --store "sqlite:$WORK/c.db" >/dev/null 2>&1
python3 "$ROOT/bench/seed_history.py" "$WORK/c.db" "$IDS" "$ENTRIES"
taskset -c 0 "$BIN" serve --listen "127.0.0.1:$port" --store "sqlite:$WORK/c.db" --mode production --log-level warn >"$WORK/log" 2>&1 &
pid=$!
bench_wait "http://127.0.0.1:$port/readyz"
# Each thread's schedstat: time on the CPU, time runnable but waiting for it
# (ns), and how many times it ran.
threads() { for t in /proc/"$pid"/task/*; do echo "${t##*/} $(cat "$t/comm") $(cat "$t/schedstat")"; done; }
before=$(threads)
io_before=$(cat /proc/"$pid"/io)
out=$(BENCH_IDS="$IDS" BENCH_THREADS=1 taskset -c 1 wrk -t1 -c16 -d"${SECONDS_}s" --latency \
    -s "$ROOT/bench/lua/patch.lua" "http://127.0.0.1:$port")
after=$(threads)
io_after=$(cat /proc/"$pid"/io)
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""
kept=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM history").fetchone()[0])' "$WORK/c.db")
echo "$BIN: $IDS dimensions x $ENTRIES history entries, patch.lua c=16 ${SECONDS_}s:" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}') req/s," \
    "p99 $(echo "$out" | awk '$1 == "99%" {print $2}'), $kept entries kept" \
    "$(echo "$out" | awk '/Non-2xx/ {print "(non-2xx: " $NF ")"}')"
# What crest's process wrote while wrk ran, per answered PATCH: bytes passed
# to write calls (`wchar`: WAL frames, checkpoint copies, and the answers on
# the sockets) and bytes of file pages it dirtied (`write_bytes`: a page
# written again while still dirty counts once).
requests=$(echo "$out" | awk '/requests in/ {print $1}')
awk -v n="$requests" 'NR == FNR { b[$1] = $2; next }
    $1 == "wchar:" { w = $2 - b[$1] } $1 == "write_bytes:" { d = $2 - b[$1] }
    END { if (n > 0) printf "  per PATCH: %.0f bytes written, %.0f bytes of file pages dirtied\n", w / n, d / n }' \
    <(echo "$io_before") <(echo "$io_after")
if [ -n "${HISTORY_THREADS:-}" ]; then
    # crest's threads while wrk ran (all on CPU 0): on the CPU, and runnable
    # but waiting for it while another of them ran.
    # by thread id (threads started during the run count from 0)
    awk 'NR == FNR { run[$1] = $3; wait[$1] = $4; slices[$1] = $5; next }
        { r = ($3 - run[$1]) / 1e9; w = ($4 - wait[$1]) / 1e9
          if (r > 0.01) printf "  %-24s on the CPU %.2f s, waiting for it %.2f s, %d slices\n", $2, r, w, $5 - slices[$1] }' \
        <(echo "$before") <(echo "$after")
fi

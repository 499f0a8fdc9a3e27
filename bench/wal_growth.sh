#!/usr/bin/env bash
# How large SQLite's WAL gets under GETs and PATCHes together: crest on an
# SQLite store of IDS dimensions, get.lua and patch.lua (8 connections
# each, random ids) for SECONDS, the size of the -wal file read every
# second; prints the largest. The checkpointer copies the WAL into the
# database every 250 ms and commits start it over, so it should stay near
# what a few checkpoint intervals of writes take (bench/README.md, "Fourth
# round").
#
#   bash bench/wal_growth.sh [CREST_BIN] [IDS] [SECONDS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-$ROOT/target/release/crest}"
IDS="${2:-1000000}"
SECONDS_="${3:-20}"
source "$ROOT/bench/lib.sh"
bench_need wal_growth.sh "apt-get install -y wrk curl" wrk python3 curl
bench_work
"$BIN" migrate --store "sqlite:$WORK/c.db" >/dev/null 2>&1
python3 "$ROOT/bench/seed_sqlite.py" "$WORK/c.db" "$IDS"
"$BIN" serve --listen "127.0.0.1:$port" --store "sqlite:$WORK/c.db" --mode production --log-level warn >"$WORK/log" 2>&1 &
pid=$!
bench_wait "http://127.0.0.1:$port/readyz"
load=()
for script in get patch; do
    BENCH_IDS="$IDS" wrk -t1 -c8 -d"${SECONDS_}s" -s "$ROOT/bench/lua/$script.lua" "http://127.0.0.1:$port" \
        >"$WORK/$script.out" &
    load+=($!)
done
largest=0
for _ in $(seq "$SECONDS_"); do
    sleep 1
    size=$(stat -c %s "$WORK/c.db-wal" 2>/dev/null || echo 0)
    [ "$size" -gt "$largest" ] && largest=$size
done
wait "${load[@]}"
rate() { awk '/Requests\/sec/ {print $2}' "$WORK/$1.out"; }
echo "$(basename "$BIN"): largest WAL $((largest / 1024)) KiB in ${SECONDS_} s; GET $(rate get)/s, PATCH $(rate patch)/s, $IDS dimensions"

#!/usr/bin/env bash
# Where the CPU goes when crest runs on PostgreSQL: runs one wrk load (PATCH
# or GET, 16 connections, 10 s) against a crest on a fresh database with
# 1,000 seeded ids, and prints crest's and PostgreSQL's CPU use (utime+stime
# from /proc, in cores) and the store and pool timings from /metrics.
#
#   bash bench/pg_cpu.sh patch      # or: get
#   bash bench/pg_cpu.sh pgbench    # no crest: pgbench (simple protocol, 16 clients, 10 s)
#                                   # runs crest's write statement, then a bare one-row UPDATE
#   CREST_BIN=/path/to/crest BENCH_PG=postgres://postgres@127.0.0.1:5432 bash bench/pg_cpu.sh get
#
# Same pinning as bench/run.sh: crest on CPU 0, wrk on CPU 1, Postgres unpinned.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${CREST_BIN:-$ROOT/target/release/crest}"
KIND="${1:-patch}"
PG="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
DB="crest_cpu_$$"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
psql "$PG/test" -qc "CREATE DATABASE $DB"
CP=""
trap '[[ -n "$CP" ]] && kill "$CP" 2>/dev/null; wait 2>/dev/null; psql "$PG/test" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
URL="$PG/$DB"
"$BIN" migrate --store "$URL" >/dev/null 2>&1
psql "$URL" -qc "INSERT INTO dimensions (id, revision, version, resource_name, dimension_name, desired_capacity, actual_capacity, scaling_status) SELECT 'bench-' || g, 1, 'MyVersion', 'MyService', 'MyDimension', 1.0, 1.0, 'Successful' FROM generate_series(1, 1000) g"
psql "$URL" -qc "VACUUM ANALYZE dimensions"
if [[ "$KIND" == pgbench ]]; then
    w=$(mktemp -d)
    printf '%s\n' '\set id random(1, 1000)' "$(cat <<'SQL'
SELECT set_config('statement_timeout','5000',true), set_config('lock_timeout','5000',true); WITH w AS (UPDATE dimensions SET revision = revision + 1, desired_capacity = random()*100, changed_at = changed_at + 1, updated_at = now() WHERE id = E'bench-:id' RETURNING id, revision), h AS (INSERT INTO history (dimension_id, revision, at, created, method, client, request_id, changes) SELECT id, revision, 1765000000000, FALSE, E'PATCH', NULL, E'req', E'[{"field":"desiredCapacity","old":1.0,"new":2.0}]' FROM w ON CONFLICT (dimension_id, revision) DO UPDATE SET at = excluded.at), t AS (DELETE FROM history WHERE dimension_id = E'bench-:id' AND revision <> 0 AND (revision <= 0 OR at < 0) AND EXISTS (SELECT 1 FROM w)), c AS (INSERT INTO changes (dimension_id) SELECT id FROM w) SELECT count(*) AS written FROM w;
SQL
)" > "$w/write.sql"
    printf '%s\n' '\set id random(1, 1000)' "UPDATE dimensions SET revision = revision + 1 WHERE id = 'bench-' || :id;" > "$w/update.sql"
    for f in write update; do
        echo -n "$f: "; pgbench -n -M simple -c 16 -j 2 -T 10 -f "$w/$f.sql" "$URL" 2>&1 | grep -E '^tps'
    done
    rm -r "$w"
    exit 0
fi
taskset -c 0 "$BIN" serve --listen "127.0.0.1:$PORT" --store "$URL" --mode production --log-level warn 2>/dev/null &
CP=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.05; done
ticks() { for p in "$@"; do awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }
c0=$(ticks "$CP"); p0=$(ticks $(pgrep -x postgres)); t0=$(date +%s.%N)
taskset -c 1 wrk -t1 -c16 -d10s -s "$ROOT/bench/lua/$KIND.lua" "http://127.0.0.1:$PORT" | grep -E "Requests/sec|Latency"
t1=$(date +%s.%N); c1=$(ticks "$CP"); p1=$(ticks $(pgrep -x postgres))
hz=$(getconf CLK_TCK)
python3 -c "print(f'crest: {($c1-$c0)/$hz/($t1-$t0):.2f} cores   postgres: {($p1-$p0)/$hz/($t1-$t0):.2f} cores')"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^crest_store_(pool_acquire_seconds|operation_duration_seconds)_(sum|count)' | grep -v ' 0$'

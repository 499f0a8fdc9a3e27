#!/usr/bin/env bash
# crest benchmark: GET/PATCH per store vs nginx, demo walkthrough, HTTPS,
# RSS, start-up time and scale, side by side in one run. See bench/README.md.
#
#   bash bench/run.sh                          # default: 10 s per measurement
#   BENCH_QUICK=1 bash bench/run.sh            # smoke run: 3 s, fewer variants
#   CREST_BIN=/path/to/crest BENCH_DURATION=20s bash bench/run.sh
#   BENCH_ONLY=postgres bash bench/run.sh      # nginx + PostgreSQL direct and via PgBouncer
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CREST_BIN="${CREST_BIN:-target/release/crest}"
case "$CREST_BIN" in /*) ;; *) CREST_BIN="$ROOT/$CREST_BIN" ;; esac
if [ ! -x "$CREST_BIN" ]; then
    echo "bench: $CREST_BIN missing; building it with cargo build --release" >&2
    cargo build --release
    CREST_BIN="$ROOT/target/release/crest"
fi
export CREST_BIN

for tool in wrk nginx openssl python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done
command -v psql >/dev/null || echo "bench: psql not found; postgres rows will be skipped" >&2
PGBOUNCER="${BENCH_PGBOUNCER:-/usr/sbin/pgbouncer}"
command -v "$PGBOUNCER" >/dev/null ||
    echo "bench: $PGBOUNCER not found; the postgres pgbouncer rows will fail" >&2

mkdir -p target/bench
exec python3 "$ROOT/bench/bench.py"

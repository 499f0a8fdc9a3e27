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
# example_bin NAME OVERRIDE: the release build of examples/NAME.rs (built
# when missing), or OVERRIDE when given; "none" skips its rows.
example_bin() {
    local bin="${2:-$ROOT/target/release/examples/$1}"
    if [ "$bin" != none ] && [ ! -x "$bin" ]; then
        echo "bench: $bin missing; building it with cargo build --release --example $1" >&2
        cargo build --release --example "$1" >&2
    fi
    echo "$bin"
}
# The floor row: a bare hyper server (examples/floor.rs), the stack crest is
# built on, with nothing of crest's. BENCH_FLOOR_BIN=none skips it.
FLOOR_BIN="$(example_bin floor "${BENCH_FLOOR_BIN:-}")"
export FLOOR_BIN
# The SQLite floor under the SCALE row: SQLite's point read of a dimension
# alone (examples/sqlite_floor.rs). BENCH_SQLITE_FLOOR_BIN=none skips it.
SQLITE_FLOOR_BIN="$(example_bin sqlite_floor "${BENCH_SQLITE_FLOOR_BIN:-}")"
export SQLITE_FLOOR_BIN

# The tools, each with its Debian package. A missing one is installed when
# we run as root with apt-get (as .ci/run does; services the packages bring,
# nginx's, are not started), else named with the command that installs it.
# BENCH_NO_INSTALL=1: never install, only name them.
PGBOUNCER="${BENCH_PGBOUNCER:-/usr/sbin/pgbouncer}"
declare -A PACKAGE=([wrk]=wrk [nginx]=nginx [openssl]=openssl [python3]=python3 [psql]=postgresql-client
    ["$PGBOUNCER"]=pgbouncer)
REQUIRED=(wrk nginx openssl python3)
OPTIONAL=(psql "$PGBOUNCER") # without them the postgres rows are skipped or fail
missing() { for tool in "$@"; do command -v "$tool" >/dev/null || echo "$tool"; done; }
mapfile -t need < <(missing "${REQUIRED[@]}" "${OPTIONAL[@]}")
if ((${#need[@]})); then
    packages=()
    for tool in "${need[@]}"; do packages+=("${PACKAGE[$tool]}"); done
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
        echo "bench: not found: ${need[*]}; installing: apt-get install -y ${packages[*]}" >&2
        policy=/usr/sbin/policy-rc.d made_policy=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
        fi
        rc=0
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null; } || rc=$?
        [ "$made_policy" = 0 ] || rm -f "$policy"
        [ "$rc" = 0 ] || echo "bench: apt-get install -y ${packages[*]} failed (exit $rc)" >&2
    fi
fi
mapfile -t need < <(missing "${REQUIRED[@]}")
if ((${#need[@]})); then
    packages=()
    for tool in "${need[@]}"; do packages+=("${PACKAGE[$tool]}"); done
    echo "bench: not found: ${need[*]}; install with: sudo apt-get install -y ${packages[*]}" >&2
    exit 1
fi
command -v psql >/dev/null ||
    echo "bench: psql not found; postgres rows will be skipped (sudo apt-get install -y postgresql-client)" >&2
command -v "$PGBOUNCER" >/dev/null ||
    echo "bench: $PGBOUNCER not found; the postgres pgbouncer rows will fail (sudo apt-get install -y pgbouncer)" >&2

mkdir -p target/bench
exec python3 "$ROOT/bench/bench.py"

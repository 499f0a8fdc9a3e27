#!/usr/bin/env bash
# Crash-safety and disk-full checks against a built crest binary.
# Usage: bash tests/scripts/run.sh   (from any directory)
# Env: CREST_BIN (default: target/release/crest under the repo root),
#      CREST_REQUIRE_SERVICES=1 to fail instead of skipping when Postgres is
#      unreachable or a tmpfs cannot be mounted (needs root).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
CREST_BIN="${CREST_BIN:-$repo/target/release/crest}"
case "$CREST_BIN" in /*) ;; *) CREST_BIN="$repo/$CREST_BIN" ;; esac
export CREST_BIN
if [[ ! -x "$CREST_BIN" ]]; then
    echo "run.sh: crest binary $CREST_BIN not found or not executable (build it, or set CREST_BIN)" >&2
    exit 1
fi
run() {
    echo "+ $*"
    "$@"
}
run python3 "$here/crash_safety.py" --stores file,sqlite,postgres --rounds 20
run python3 "$here/disk_full.py" --stores file,sqlite
echo "run.sh: all crash-safety and disk-full checks passed"

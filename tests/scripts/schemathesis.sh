#!/usr/bin/env bash
# Property-based API test: schemathesis against crest's own /openapi.json.
#
# Starts `crest serve` (memory store) once in production mode and once in demo
# mode on a free local port and runs schemathesis over every operation except
# the endless Server-Sent Events stream (operationId watchDimensions), with the
# checks: no 5xx, status code / content type / headers / body documented in the
# schema, negative-data rejection (schema-invalid requests must be 4xx) and
# positive-data acceptance (schema-valid requests must not be refused).
# crest runs with --request-timeout 2s: its longest ?wait= is then 1s, which
# its /openapi.json states, so schema-valid long-polls end quickly.
# Authentication is off (every operation open); the document's security
# schemes apply only when tokens or client certificates are configured, and
# crest ignores the Authorization header schemathesis sends for bearerAuth.
#
# Usage: tests/scripts/schemathesis.sh            (from any directory)
# Environment:
#   CREST_BIN          crest binary [target/release/crest, relative to the repo root]
#   ST_MAX_EXAMPLES    test cases per operation and phase [40]
#   ST_MAX_TIME        time budget per mode in seconds [75]
#   ST_SEED            hypothesis seed [random]
#   ST_REPORT_DIR      where the junit/ndjson/vcr reports go [a temp dir, printed]
#   ST_MODES           modes to run [production demo]
#   ST_CHECKS          comma-separated schemathesis checks [see `checks` below]
# Exits non-zero if schemathesis reports any failure or error, or crest fails.
# One worker: with two, hypothesis' lambda descriptions call CPython 3.11's
# `ast` from two threads, which can fail with "AST constructor recursion depth
# mismatch" (python/cpython#106905), an error of the tool, not of crest.
set -euo pipefail

SCHEMATHESIS_VERSION="4.32.5"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${CREST_BIN:-target/release/crest}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
[[ -x "$bin" ]] || { echo "schemathesis.sh: crest binary $bin not found (set CREST_BIN or build with cargo build --release)" >&2; exit 2; }

max_examples="${ST_MAX_EXAMPLES:-40}"
max_time="${ST_MAX_TIME:-75}"
modes="${ST_MODES:-production demo}"
# positive_data_acceptance: the schema says what crest accepts (failureReason
# only with scalingStatus Failed, a wait up to the server's longest, ...).
# What a schema cannot say, because it depends on what is stored (a stale
# If-Match is 412; desiredCapacity against the dimension's bounds is 400), is
# let through by schemathesis_hooks.py, each case by its exact shape; every
# such answer is still checked to be documented by the conformance checks.
checks="${ST_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,positive_data_acceptance}"
report_dir="${ST_REPORT_DIR:-$(mktemp -d -t crest-schemathesis.XXXXXX)}"
mkdir -p "$report_dir"

# schemathesis, pinned.
st_cmd=(st)
if ! command -v st >/dev/null 2>&1 || [[ "$(st --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]]; then
    echo "installing schemathesis==$SCHEMATHESIS_VERSION" >&2
    python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION" >&2
    st_cmd=(python3 -m schemathesis.cli)
    command -v st >/dev/null 2>&1 && st_cmd=(st)
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

crest_pid=""
stop_crest() {
    if [[ -n "$crest_pid" ]] && kill -0 "$crest_pid" 2>/dev/null; then
        kill -TERM "$crest_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$crest_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$crest_pid" 2>/dev/null || true
        wait "$crest_pid" 2>/dev/null || true
    fi
    crest_pid=""
}
trap stop_crest EXIT
trap 'exit 130' INT TERM

status=0
for mode in $modes; do
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    log="$report_dir/crest-$mode.log"
    "$bin" serve --listen "127.0.0.1:$port" --store memory: --mode "$mode" --request-timeout 2s >"$log" 2>&1 &
    crest_pid=$!
    ready=""
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; then ready=1; break; fi
        kill -0 "$crest_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z "$ready" ]]; then
        echo "schemathesis.sh: crest ($mode) did not become ready; log:" >&2
        cat "$log" >&2
        exit 1
    fi

    echo "=== schemathesis: crest --mode $mode at $base (reports in $report_dir/$mode) ==="
    seed_args=()
    [[ -n "${ST_SEED:-}" ]] && seed_args=(--seed "$ST_SEED")
    if ! SCHEMATHESIS_HOOKS="$root/tests/scripts/schemathesis_hooks.py" "${st_cmd[@]}" run "$base/openapi.json" \
        --exclude-operation-id watchDimensions \
        --checks "$checks" \
        --max-examples "$max_examples" \
        --max-time "$max_time" \
        --request-timeout 10 \
        --workers 1 \
        --continue-on-failure \
        --suppress-health-check all \
        --report junit,ndjson,vcr --report-dir "$report_dir/$mode" \
        "${seed_args[@]}"; then
        echo "schemathesis.sh: failures with crest --mode $mode" >&2
        status=1
    fi
    if ! kill -0 "$crest_pid" 2>/dev/null; then
        echo "schemathesis.sh: crest ($mode) exited during the run; log:" >&2
        tail -50 "$log" >&2
        status=1
    fi
    stop_crest
done
exit "$status"

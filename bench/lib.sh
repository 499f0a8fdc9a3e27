# Shared by the bench's helper scripts (ab_get.sh, callgrind.sh, history.sh,
# history_read.sh, perf_get.sh, wal_growth.sh): `source "$ROOT/bench/lib.sh"`.

# bench_need NAME "apt-get install hint" TOOL...: exits naming the first missing tool.
bench_need() {
    local who=$1 hint=$2
    shift 2
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$who: $tool not found ($hint)" >&2; exit 1; }
    done
}

# bench_port: prints a port free on 127.0.0.1.
bench_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Sets WORK (a temp dir), pid (crest's, set by the caller once started) and
# port (free on 127.0.0.1); at exit crest and any other job still running
# in the background (a second crest) are stopped and WORK removed.
bench_work() {
    WORK="$(mktemp -d)"
    pid=""
    trap 'kill "$pid" $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
    port=$(bench_port)
}

# bench_wait URL: until URL answers 2xx (60 s at most).
bench_wait() {
    for _ in $(seq 600); do curl -sf -o /dev/null "$1" && return; sleep 0.1; done
}

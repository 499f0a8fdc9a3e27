#!/usr/bin/env bash
# Cached GETs of two crest builds in turns: each serves its own copy of one
# seeded SQLite file (1,000 dimensions), pinned as bench/run.sh pins (crest
# on CPU 0, wrk on CPU 1), and wrk drives get.lua at c=16 against one, then
# the other, ROUNDS times, so that the machine's drift hits both alike.
# Prints each round and the medians (bench/README.md, "Ninth round").
#
#   bash bench/ab_get.sh BIN_A BIN_B [ROUNDS] [SECONDS]
#
# ROUNDS defaults to 5, SECONDS (per wrk run) to 8.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
A="${1:?usage: ab_get.sh BIN_A BIN_B [ROUNDS] [SECONDS]}"
B="${2:?usage: ab_get.sh BIN_A BIN_B [ROUNDS] [SECONDS]}"
ROUNDS="${3:-5}"
SECONDS_="${4:-8}"
source "$ROOT/bench/lib.sh"
bench_need ab_get.sh "apt-get install -y wrk curl" wrk python3 curl taskset
bench_work
"$A" migrate --store "sqlite:$WORK/seed.db" >/dev/null 2>&1
python3 "$ROOT/bench/seed_sqlite.py" "$WORK/seed.db" 1000
cp "$WORK/seed.db" "$WORK/a.db"
cp "$WORK/seed.db" "$WORK/b.db"
sync
port_b=$(bench_port)
serve() { taskset -c 0 "$1" serve --listen "127.0.0.1:$2" --store "sqlite:$WORK/$3.db" --mode production --log-level warn >"$WORK/$3.log" 2>&1 & }
serve "$A" "$port" a
serve "$B" "$port_b" b
bench_wait "http://127.0.0.1:$port/readyz"
bench_wait "http://127.0.0.1:$port_b/readyz"
rate() {
    BENCH_IDS=1000 taskset -c 1 wrk -t1 -c16 -d"${SECONDS_}s" -s "$ROOT/bench/lua/get.lua" "http://127.0.0.1:$1" |
        awk '/Requests\/sec/ {printf "%.0f", $2}'
}
ra=() rb=()
for i in $(seq "$ROUNDS"); do
    a=$(rate "$port")
    b=$(rate "$port_b")
    ra+=("$a") rb+=("$b")
    echo "round $i: A $a/s, B $b/s ($(python3 -c "print(f'{$b / $a * 100 - 100:+.1f}')") %)"
done
python3 - "${ra[*]}" "${rb[*]}" <<'EOF'
import statistics, sys
a, b = ([int(x) for x in s.split()] for s in sys.argv[1:3])
ma, mb = statistics.median(a), statistics.median(b)
wins = sum(y > x for x, y in zip(a, b))
print(f"medians: A {ma:.0f}/s, B {mb:.0f}/s ({mb / ma * 100 - 100:+.1f} %); B faster in {wins} of {len(a)} rounds")
EOF

#!/usr/bin/env bash
# Runs every cargo-fuzz target for FUZZ_SECONDS each, one after another.
# Exits non-zero as soon as a target crashes (the input is in fuzz/artifacts/TARGET/).
#
# Usage: fuzz/run.sh [TARGET...]          (from any directory)
# Environment:
#   FUZZ_SECONDS      seconds per target [600]
#   FUZZ_JOBS         libFuzzer -fork workers (0 = a single process) [0]
#   CARGO_TARGET_DIR  build directory [/tmp/fuzz-target, so the repo's target/ is untouched]
#   FUZZ_SANITIZER    address (default) or none
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). With a stable
# toolchain RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags; on nightly
# it is harmless.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${FUZZ_SECONDS:-600}"
jobs="${FUZZ_JOBS:-0}"
sanitizer="${FUZZ_SANITIZER:-address}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/fuzz-target}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: cargo-fuzz is missing; install it with: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo fuzz list)
fi

fork_args=()
[[ "$jobs" != 0 ]] && fork_args=("-fork=$jobs")

for t in "${targets[@]}"; do
    echo "=== fuzz $t for ${seconds}s ==="
    mkdir -p "fuzz/corpus/$t"
    if ! cargo fuzz run --sanitizer "$sanitizer" "$t" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${fork_args[@]}"; then
        echo "run.sh: target $t crashed; the input is under fuzz/artifacts/$t/" >&2
        echo "reproduce: RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo fuzz run $t fuzz/artifacts/$t/<file>" >&2
        exit 1
    fi
done
echo "=== no crashes in: ${targets[*]} ==="

#!/usr/bin/env bash
# Fuzzing the policy component: long runs (`just fuzz`) and the bounded smoke
# run CI does (`just fuzz-smoke`, called directly by .ci/run).
#
#   core-component/fuzz/fuzz.sh list
#   core-component/fuzz/fuzz.sh run TARGET [SECONDS]   # one long run (default 600 s)
#   core-component/fuzz/fuzz.sh smoke [SECONDS]        # every target, SECONDS each (default 20)
#   core-component/fuzz/fuzz.sh replay                 # every target over its seeds and crash artifacts
#
# Stable toolchain: `--sanitizer none` builds with the stable `-Cpasses=sancov-module`
# instrumentation, so no nightly and no RUSTC_BOOTSTRAP is needed. One fuzzer
# process at a time (no -jobs/-workers): the machine has 2 cores.
#
# Corpora: corpus/<target>/ holds the small checked-in seeds and is only read;
# what a run discovers goes to corpus-grown/<target>/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")"

CARGO_FUZZ_VERSION=0.13.2
TARGETS=(keys tokens routes authn ratelimit differential)

ensure_cargo_fuzz() {
    if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
}

# 16 codegen units: the first build instruments every dependency (wasmtime
# included) and takes ~10 min on 2 cores; 16 units cut that by ~12% for a
# slightly slower fuzzer. `run` and `smoke` use the same flags so that they
# share one build.
build() {
    cargo fuzz build --sanitizer none --codegen-units 16 "$@"
}

# libFuzzer's final statistics, and the last status line (#N, cov:, ft:).
summary() {
    local log=$1
    grep -E '^#[0-9]+' "$log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
}

run_one() {
    local target=$1 seconds=$2 grown=$3
    mkdir -p "$grown" "corpus/$target" artifacts/"$target"
    local log
    log=$(mktemp)
    set +e
    cargo fuzz run --sanitizer none --codegen-units 16 "$target" "$grown" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=4096 \
        >"$log" 2>&1
    local rc=$?
    set -e
    echo "== $target (${seconds}s, exit $rc)"
    summary "$log"
    if [ "$rc" -ne 0 ]; then
        tail -n 60 "$log"
        rm -f "$log"
        return "$rc"
    fi
    rm -f "$log"
}

case "${1:-}" in
list)
    printf '%s\n' "${TARGETS[@]}"
    ;;
run)
    target=${2:?usage: fuzz.sh run TARGET [SECONDS]}
    seconds=${3:-600}
    ensure_cargo_fuzz
    build "$target"
    run_one "$target" "$seconds" "corpus-grown/$target"
    ;;
smoke)
    seconds=${2:-20}
    ensure_cargo_fuzz
    build
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    failed=0
    for t in "${TARGETS[@]}"; do
        run_one "$t" "$seconds" "$scratch/$t" || failed=$((failed + 1))
    done
    total=${#TARGETS[@]}
    echo "fuzz-smoke: $((total - failed)) passed, $failed failed"
    [ "$failed" -eq 0 ]
    ;;
replay)
    ensure_cargo_fuzz
    build
    for t in "${TARGETS[@]}"; do
        inputs=("corpus/$t")
        [ -d "artifacts/$t" ] && inputs+=("artifacts/$t")
        cargo fuzz run --sanitizer none --codegen-units 16 "$t" "${inputs[@]}" -- -runs=0
    done
    ;;
*)
    sed -n '2,15p' "$0"
    exit 2
    ;;
esac

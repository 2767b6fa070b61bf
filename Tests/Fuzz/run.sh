#!/usr/bin/env bash
# Builds the libFuzzer targets (Swift's -sanitize=fuzzer) and runs each for a bounded time from
# the committed seed corpus. Exits non-zero when a target crashes, hangs (-timeout) or runs out
# of memory (-rss_limit_mb); the input that did it is kept under Tests/Fuzz/artifacts/.
#
#   Tests/Fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]    (default 30 s, every target; 0 = build only)
#
# CERTVAULT_FUZZ_KEEP=DIR keeps the corpus each target grows in DIR/<target> (and starts from
# it next time), for longer campaigns or a CI cache.
# CERTVAULT_FUZZ_SEED=N fixes libFuzzer's random seed, so that a run explores the same inputs
# in the same order each time (CI uses it: a run that passed before a submission passes in CI,
# and new finds come from developers' longer campaigns, not from chance during a CI run).
#
# New inputs the fuzzer finds go to a temporary folder, not into the committed corpus; to keep
# one (say, a reproducer of a fixed crash), copy it into Tests/Fuzz/corpus/<target>/, where
# `swift test --filter FuzzReplay` replays it.
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(policy intake vb365 vault-files vault-sealed); fi

build_started=$(date +%s)
swift build -c release --package-path "$fuzz" --scratch-path "$fuzz/.build" \
    -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library >"$fuzz/.build-log.txt" 2>&1 || {
    tail -40 "$fuzz/.build-log.txt"
    echo "fuzz: the instrumented build failed (log: $fuzz/.build-log.txt)"
    exit 1
}
binary="$fuzz/.build/release/certvault-fuzz"
echo "fuzz: built $binary in $(($(date +%s) - build_started)) s"
[ "$seconds" -gt 0 ] || exit 0

work="$(mktemp -d)"
scratch_base=/dev/shm
[ -d "$scratch_base" ] && [ -w "$scratch_base" ] || scratch_base="${TMPDIR:-/tmp}"
scratch="$(mktemp -d "$scratch_base/certvault-fuzz.XXXXXX")"
trap 'rm -rf "$work" "$scratch"' EXIT
mkdir -p "$fuzz/artifacts"

# The vault seeds as this code writes them (a backup in the current format, the index head if
# any) join the committed ones.
SWIFT_BACKTRACE=enable=no CERTVAULT_FUZZ_SCRATCH="$scratch" CERTVAULT_FUZZ_WRITE_SEEDS="$work/fresh" "$binary"

failed=0
for target in "${targets[@]}"; do
    [ -d "$fuzz/corpus/$target" ] || { echo "fuzz: no corpus folder $fuzz/corpus/$target"; failed=1; continue; }
    grown="${CERTVAULT_FUZZ_KEEP:-$work}/$target"
    mkdir -p "$grown"
    log="$work/$target.log"
    # Tokens the mutations splice in: edge-case numbers, plus the target's keywords.
    cat "$fuzz/dict/numbers.dict" "$fuzz/dict/${target%%-*}.dict" >"$work/$target.dict"
    status=ok
    started=$(date +%s)
    # SWIFT_BACKTRACE=enable=no: let libFuzzer's own handler catch a trap and save the input.
    SWIFT_BACKTRACE=enable=no CERTVAULT_FUZZ_TARGET="$target" CERTVAULT_FUZZ_SCRATCH="$scratch" \
        "$binary" "$grown" "$fuzz/corpus/$target" $( [ -d "$work/fresh/$target" ] && echo "$work/fresh/$target" ) \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 \
        ${CERTVAULT_FUZZ_SEED:+-seed="$CERTVAULT_FUZZ_SEED"} \
        -dict="$work/$target.dict" -print_final_stats=1 -artifact_prefix="$fuzz/artifacts/$target-" >"$log" 2>&1 || status=FAILED
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    echo "fuzz: $target $status: $(stat number_of_executed_units) executions in $(($(date +%s) - started)) s," \
        "$(stat average_exec_per_sec) exec/s, coverage ${cov:-?} edges (${ft:-?} features)," \
        "$(stat new_units_added) new inputs, peak RSS $(stat peak_rss_mb) MB"
    if [ "$status" != ok ]; then
        failed=1
        grep -E 'ERROR|SUMMARY|Test unit written|artifact_prefix|Fatal error|deadly|timeout' "$log" | head -20
        echo "fuzz: reproduce with: CERTVAULT_FUZZ_TARGET=$target $binary ARTIFACT (artifacts in $fuzz/artifacts)"
        cp "$log" "$fuzz/artifacts/$target.log"
    fi
done
exit $failed

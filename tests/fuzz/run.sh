#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (from the Swift toolchain's clang) and AddressSanitizer:
# builds `tessera-fuzz` with the sanitizers into .build/fuzz, replays the inputs kept under
# tests/fuzz/regressions/, then fuzzes each target for TESSERA_FUZZ_SECONDS (default 40) from its
# seed corpus (tests/fuzz/corpus/TARGET/ plus the fixtures it names). A crashing, memory-bombing or
# hanging input fails the run; libFuzzer writes it to .build/fuzz/crashes/TARGET/, and once fixed
# it is kept as tests/fuzz/regressions/TARGET/NAME (FuzzRegressionTests replays it too).
#
#   tests/fuzz/run.sh                    # every target, 40 s each
#   TESSERA_FUZZ_SECONDS=600 tests/fuzz/run.sh json image
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${TESSERA_FUZZ_SECONDS:-40}
build=.build/fuzz
swift build --build-path "$build" --product tessera-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link,address
fuzzer=$(swift build --build-path "$build" --show-bin-path)/tessera-fuzz
targets=("$@")
if [[ ${#targets[@]} == 0 ]]; then targets=(json tokenizer-json tokenizer chat-template image wire-frame); fi
# The Swift runtime's backtracer would race libFuzzer's and AddressSanitizer's crash reports.
# LeakSanitizer is off: it reports objects the Swift runtime and the targets' once-loaded fixtures
# keep for the life of the process.
export TESSERA_FUZZ_FIXTURES=fixtures SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0
failed=()
for target in "${targets[@]}"; do
    corpus=$build/corpus/$target crashes=$build/crashes/$target
    mkdir -p "$corpus" "$crashes" "tests/fuzz/corpus/$target"
    regressions=()
    if [[ -d tests/fuzz/regressions/$target ]]; then
        mapfile -t regressions < <(find "tests/fuzz/regressions/$target" -type f | sort)
    fi
    if [[ ${#regressions[@]} -gt 0 ]] && ! "$fuzzer" "$target" -runs=1 "${regressions[@]}" >"$build/$target-regressions.log" 2>&1; then
        echo "fuzz $target: a kept regression input fails again (see $build/$target-regressions.log)"
        failed+=("$target")
        continue
    fi
    seeds=$("$fuzzer" "$target" --seeds | tr -d '\n')
    # -timeout: an input running past 10 s is a hang; -rss_limit_mb: one using 2 GiB is a bomb.
    if "$fuzzer" "$target" "$corpus" "tests/fuzz/corpus/$target" ${seeds:+-seed_inputs="$seeds"} \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 -max_len=200000 -print_final_stats=1 \
        -artifact_prefix="$crashes/" >"$build/$target.log" 2>&1; then
        echo "fuzz $target: $(grep -E '^stat::number_of_executed_units' "$build/$target.log" | awk '{print $2}') inputs in ${seconds} s, $(grep -cE '^#[0-9]+.*(NEW|REDUCE)' "$build/$target.log") corpus additions, no crash"
    else
        echo "fuzz $target: FAILED; input in $crashes/, log in $build/$target.log:"
        grep -E '^==[0-9]+==|^SUMMARY|Fatal error|error:' "$build/$target.log" | head -5 || true
        failed+=("$target")
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then echo "fuzzing failed: ${failed[*]}"; exit 1; fi

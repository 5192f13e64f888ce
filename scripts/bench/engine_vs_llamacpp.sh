#!/usr/bin/env bash
# Tessera vs llama.cpp on the same ~125M-parameter F16 Llama, 2 threads, one run of this script.
#
#   LLAMA_CPP=/path/to/llama.cpp/build/bin scripts/bench/engine_vs_llamacpp.sh
#
# llama.cpp is built from source outside this repository (see docs/benchmarks.md).
# Each engine is measured REPEATS times, alternating, so both see the same machine state.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${LLAMA_CPP:?set LLAMA_CPP to the folder holding llama-bench}"
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-3}
MODEL=bench-work/llama125m

[ -f "$MODEL/model-f16.gguf" ] || python3 scripts/bench/make_bench_model.py --out "$MODEL"
swift build -c release --product tessera >&2

for i in $(seq "$REPEATS"); do
    .build/release/tessera bench engine --model "$MODEL" --prompt-tokens 512 --gen-tokens 128 --threads "$THREADS" --json \
        | sed 's/^/tessera /'
    "$LLAMA_CPP/llama-bench" -m "$MODEL/model-f16.gguf" -p 512 -n 128 -t "$THREADS" -o json 2>/dev/null \
        | python3 -c 'import json,sys; r={x["n_prompt"] and "pp" or "tg": x["avg_ts"] for x in json.load(sys.stdin)}; print("llama.cpp", json.dumps({"prefill_tokens_per_s": r["pp"], "decode_tokens_per_s": r["tg"]}))'
done | python3 scripts/bench/summarize_engine.py

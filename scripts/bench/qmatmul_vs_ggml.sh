#!/usr/bin/env bash
# Kernel-level prefill comparison, less load-sensitive than whole-model runs: Tessera's quantized
# matrix product against ggml_mul_mat of a llama.cpp build, same weights and activations, 1 thread,
# alternating (scripts/bench/qmatmul_vs_ggml.cpp).
#   LLAMA_CPP=/path/to/llama.cpp/build scripts/bench/qmatmul_vs_ggml.sh [REPEATS] [TOKENS]
# TESSERA_CKERNELS=DIR builds another checkout's Sources/CKernels (before/after comparisons).
set -euo pipefail
: "${LLAMA_CPP:?set LLAMA_CPP to a llama.cpp CMake build folder (static libraries, as machine.md builds it)}"
repo=$(cd "$(dirname "$0")/../.." && pwd)
src=$(cd "$LLAMA_CPP/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ckernels=${TESSERA_CKERNELS:-$repo/Sources/CKernels}
for f in "$ckernels"/*.c; do
    clang -O3 -w -c -I "$ckernels/include" -I "$ckernels" "$f" -o "$out/$(basename "$f" .c).o"
done
g++ -O2 -std=c++17 -I "$src/ggml/include" -I "$ckernels/include" "$repo/scripts/bench/qmatmul_vs_ggml.cpp" \
    "$out"/*.o "$LLAMA_CPP/ggml/src/libggml.a" "$LLAMA_CPP/ggml/src/libggml-cpu.a" "$LLAMA_CPP/ggml/src/libggml-base.a" \
    -fopenmp -lpthread -lm -o "$out/qmatmul_vs_ggml"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$out/qmatmul_vs_ggml" "${1:-5}" "${2:-512}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

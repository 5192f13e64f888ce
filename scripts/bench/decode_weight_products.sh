#!/usr/bin/env bash
# The weight products of one decode token through CKernels alone (scripts/bench/decode_weight_products.c),
# 1 thread, the load average printed before and after.
#   scripts/bench/decode_weight_products.sh llama125m|smollm2 LAYER_TYPE HEAD_TYPE [ROUNDS]
# e.g. scripts/bench/decode_weight_products.sh llama125m Q4_0 Q6_K   (llama-quantize's Q4_0 keeps a Q6_K head)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for f in "$repo"/Sources/CKernels/*.c; do
    clang -O3 -w -c -I "$repo/Sources/CKernels/include" -I "$repo/Sources/CKernels" "$f" -o "$out/$(basename "$f" .c).o"
done
clang -O2 -I "$repo/Sources/CKernels/include" "$repo/scripts/bench/decode_weight_products.c" "$out"/*.o -lm -lpthread -o "$out/run"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$out/run" "$@"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

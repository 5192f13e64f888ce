#!/usr/bin/env bash
# Step-level batching vs one image at a time: the same Poisson load of /v1/images/generations
# requests (`tessera bench images`) against `tessera serve --image-model` with --max-image-batch
# $BATCH (default 8) and with --max-image-batch 1. Prints a markdown table; JSON results go to $OUT
# (default bench-work/images). TESSERA_BINARY skips the release build and uses that executable.
# SIZE (64x64), STEPS (10), NUM_REQUESTS (24), RATE (0.5/s), THREADS (2) set the load; a full-size
# model may take minutes to load (HEALTHY_TRIES × 0.2 s, default 3000); one 2-step image warms each
# server up before the measured requests and is not counted.
# Usage: scripts/bench/images_batching.sh [IMAGE_MODEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/bench.sh
source scripts/lib/image_bench.sh
bench_setup fixtures/diffusion/sd1-tiny bench-work/images "$@"
threads="${THREADS:-2}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| --max-image-batch | images/s | mean batch | latency mean (ms) | p50 (ms) | p90 (ms) | p99 (ms) |"
echo "|---|---|---|---|---|---|---|"
for batch in "${BATCH:-8}" 1; do
    port=$(free_port)
    keep_server_log=1
    serve_in_background "$out/batch$batch.server.log" "$binary" serve --image-model "$model" --port "$port" --threads "$threads" \
        --max-image-batch "$batch" --max-queued-images 256 --kv-cache-memory 16
    image_server_ready "$port" "$name" "${SIZE:-64x64}"
    "$binary" bench images --base-url "http://127.0.0.1:$port" --model "$name" --num-requests "${NUM_REQUESTS:-24}" \
        --request-rate "${RATE:-0.5}" --size "${SIZE:-64x64}" --steps "${STEPS:-10}" --seed 1 \
        --result-json "$out/batch$batch.json" >"$out/batch$batch.bench.log" 2>&1
    metrics_since "$port" "$out/batch$batch.metrics"
    stop_server
    calls=$(awk '/^tessera:image_unet_calls_total\{/ {s += $NF} END {print s}' "$out/batch$batch.metrics")
    steps=$(awk '/^tessera:image_steps_total\{/ {s += $NF} END {print s}' "$out/batch$batch.metrics")
    python3 - "$out/batch$batch.json" "$batch" "$calls" "$steps" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_ms"]
print(f"| {sys.argv[2]} | {r['image_throughput']:.3f} | {float(sys.argv[4]) / float(sys.argv[3]):.2f} | {l['mean']:.0f} | {l['median']:.0f} | "
      f"{r['p90_latency_ms']:.0f} | {l['p99']:.0f} |")
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

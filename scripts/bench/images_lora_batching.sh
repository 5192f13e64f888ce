#!/usr/bin/env bash
# Benchmark (c): mixed-LoRA step batches vs LoRA-homogeneous step batches. One LoRA trace
# (`tessera bench images --katz-trace` over a server with LoRAs and no ControlNets: 95% of requests
# name 1-2 LoRAs, Zipf-popular) against `tessera serve --image-model` with each image batcher:
#   mixed-lora        every running image of the oldest's size shares the UNet call; a call whose
#                     images take different LoRAs runs each image's rows with its LoRAs unmerged;
#   lora-homogeneous  only images taking the oldest's LoRA set share the call, on merged weights.
# MODEL (default fixtures/diffusion/sd1-tiny) with LORAS, space-separated NAME=PATH (default four
# names over the fixture's two LoRA files, PEFT and kohya, so requests name several distinct sets of
# adapters; scripts/bench/make_bench_adapters.py makes full-size ones). LoRAs apply from the first
# step (--lora-start-step 0) unless LORA_START_STEP is set, so an image's LoRA set is the same at
# every step. One 2-step image warms each server up first (not counted). The first run writes the
# trace, the second replays it. Prints a markdown table; JSON results go to $OUT (default bench-work/lora-batching).
# Usage: TESSERA_BINARY=.build/debug/tessera [MODEL=DIR LORAS="a=PATH b=PATH"] scripts/bench/images_lora_batching.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/bench.sh
source scripts/lib/image_bench.sh
bench_output bench-work/lora-batching
model="${MODEL:-fixtures/diffusion/sd1-tiny}"
name=$(basename "$model")
size="${SIZE:-64x64}"
peft=fixtures/diffusion/loras/sd1-tiny-peft.safetensors
kohya=fixtures/diffusion/loras/sd1-tiny-kohya.safetensors
loras=()
for lora in ${LORAS:-a=$peft b=$kohya c=$peft d=$kohya}; do loras+=(--lora "$lora"); done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| --image-batcher | images/s | mean batch | merged / unmerged LoRA calls | latency mean (ms) | p50 (ms) | p90 (ms) | p99 (ms) | failed |"
echo "|---|---|---|---|---|---|---|---|---|"
for batcher in mixed-lora lora-homogeneous; do
    port=$(free_port)
    serve_in_background "$out/$batcher.server.log" "$binary" serve --image-model "$model" --port "$port" \
        --threads "${THREADS:-2}" --max-image-batch "${BATCH:-8}" --image-batcher "$batcher" --lora-start-step "${LORA_START_STEP:-0}" \
        --max-queued-images 256 --kv-cache-memory 16 "${loras[@]}"
    keep_server_log=1
    image_server_ready "$port" "$name" "$size"
    if [[ $batcher == mixed-lora ]]; then
        trace=(--katz-trace --num-requests "${NUM_REQUESTS:-24}" --request-rate "${RATE:-0.5}" --trace-out "$out/trace.jsonl")
    else
        trace=(--trace "$out/trace.jsonl")
    fi
    "$binary" bench images --base-url "http://127.0.0.1:$port" --model "$name" --size "$size" --steps "${STEPS:-10}" --seed 1 \
        "${trace[@]}" --result-json "$out/$batcher.json" >"$out/$batcher.bench.log" 2>&1
    metrics_since "$port" "$out/$batcher.metrics"
    stop_server
    python3 - "$out/$batcher.json" "$batcher" "$out/$batcher.metrics" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_ms"]
metric = lambda name: sum(float(line.split()[-1]) for line in open(sys.argv[3]) if line.startswith(f"tessera:{name}{{"))
calls = metric("image_unet_calls_total")
print(f"| {sys.argv[2]} | {r['image_throughput']:.3f} | {metric('image_steps_total') / max(calls, 1):.2f} | "
      f"{metric('image_unet_calls_merged_lora_total'):.0f} / {metric('image_unet_calls_unmerged_lora_total'):.0f} | "
      f"{l['mean']:.0f} | {l['median']:.0f} | {r['p90_latency_ms']:.0f} | {l['p99']:.0f} | {r['failed']} |")
PY
done
grep '^add-on trace' "$out/mixed-lora.bench.log"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

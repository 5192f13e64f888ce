#!/usr/bin/env bash
# Add-on serving, benchmark (b): one Katz-like add-on trace (`tessera bench images --katz-trace`:
# 98% of requests name 1-3 ControlNets, 95% 1-2 LoRAs, each Zipf-popular over the adapters the
# server lists) against two deployments of the same image model and add-ons:
#   inline   `tessera serve --image-model` with --lora/--controlnet: ControlNets run in the image
#            process and LoRAs are merged before the first step (--lora-start-step 0), as diffusers does;
#   service  `tessera serve --topology` (written to $OUT/topology.yaml like
#            examples/topologies/images-controlnet.yaml): ControlNets on a controlnet worker,
#            residuals per step over its transfer endpoint, LoRAs on the image worker with bounded
#            asynchronous LoRA loading (--lora-start-step $LORA_START_STEP, default 2).
# MODEL (default fixtures/diffusion/sd1-tiny), LORAS (space-separated NAME=PATH) and CONTROLNETS
# (NAME=DIR) default to the fixture's two LoRAs and one ControlNet; CONTROL_IMAGE conditions them all.
# Both deployments keep ADAPTER_CACHE MiB of add-ons loaded (inline --adapter-cache; service: the
# controlnet worker's --controlnet-memory and the image worker's --adapter-cache; default 1024).
# One 2-step image naming every ControlNet warms each deployment up (not counted; LoRAs stay cold).
# The first run writes the trace, the second replays it (same arrivals, add-ons and seeds). Both use
# THREADS_TOTAL cores in all (default 2): the inline server all of them, the service's image and
# controlnet workers half each. Prints a markdown table; JSON results go to $OUT (default bench-work/addons).
# Usage: TESSERA_BINARY=.build/debug/tessera [MODEL=DIR LORAS="…" CONTROLNETS="…"] scripts/bench/images_addons.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/bench.sh
source scripts/lib/image_bench.sh
bench_output bench-work/addons
model="${MODEL:-fixtures/diffusion/sd1-tiny}"
name=$(basename "$model")
size="${SIZE:-64x64}"
total="${THREADS_TOTAL:-2}"
cache="${ADAPTER_CACHE:-1024}"
control="${CONTROL_IMAGE:-fixtures/diffusion/control-images/control-a.png}"
read -ra lora_list <<<"${LORAS:-peft=fixtures/diffusion/loras/sd1-tiny-peft.safetensors kohya=fixtures/diffusion/loras/sd1-tiny-kohya.safetensors}"
read -ra controlnet_list <<<"${CONTROLNETS:-edges=fixtures/diffusion/controlnet-sd1-tiny}"
loras=() controlnets=() warm_up=()
for lora in "${lora_list[@]}"; do loras+=(--lora "$lora"); done
for controlnet in "${controlnet_list[@]}"; do
    controlnets+=(--controlnet "$controlnet")
    warm_up+=("{\"name\": \"${controlnet%%=*}\", \"image\": $(control_image_field "$control")}")
done
warm_up_fields="\"controlnets\": [$(IFS=,; echo "${warm_up[*]}")]"
# The service deployment: the same add-ons, LoRAs on the image worker, ControlNets on the controlnet worker.
yaml_list() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@"; }
cat >"$out/topology.yaml" <<YAML
groups:
  - group: text
    workers:
      - {role: mono, count: 1}
  - group: image
    workers:
      - role: image
        count: 1
        arguments: $(yaml_list "${loras[@]}" --adapter-cache "$cache")
      - role: controlnet
        count: 1
        arguments: $(yaml_list "${controlnets[@]}" --controlnet-memory "$cache")
YAML
bench=(--model "$name" --size "$size" --steps "${STEPS:-10}" --seed 1 --control-image "$control")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| deployment | images/s | latency mean (ms) | p50 (ms) | p90 (ms) | p99 (ms) | failed |"
echo "|---|---|---|---|---|---|---|"
for deployment in inline service; do
    port=$(free_port)
    if [[ $deployment == inline ]]; then
        serve_in_background "$out/$deployment.server.log" "$binary" serve --image-model "$model" --port "$port" --threads "$total" \
            --max-queued-images 256 --kv-cache-memory 16 --lora-start-step 0 --adapter-cache "$cache" "${loras[@]}" "${controlnets[@]}"
        trace=(--katz-trace --num-requests "${NUM_REQUESTS:-16}" --request-rate "${RATE:-0.5}" --trace-out "$out/trace.jsonl")
    else
        serve_in_background "$out/$deployment.server.log" "$binary" serve --model fixtures/models/llama-gqa --image-model "$model" \
            --topology "$out/topology.yaml" --port "$port" --threads $((total > 1 ? total / 2 : 1)) \
            --max-queued-images 256 --kv-cache-memory 16 --lora-start-step "${LORA_START_STEP:-2}"
        trace=(--trace "$out/trace.jsonl")
    fi
    keep_server_log=1
    image_server_ready "$port" "$name" "$size" "$warm_up_fields"
    "$binary" bench images --base-url "http://127.0.0.1:$port" "${bench[@]}" "${trace[@]}" --result-json "$out/$deployment.json" \
        >"$out/$deployment.bench.log" 2>&1
    metrics_since "$port" "$out/$deployment.metrics"
    stop_server
    result_row "$out/$deployment.json" "$deployment" "{r['image_throughput']:.3f}" "{r['latency_ms']['mean']:.0f}" \
        "{r['latency_ms']['median']:.0f}" "{r['p90_latency_ms']:.0f}" "{r['latency_ms']['p99']:.0f}" "{r['failed']}"
done
grep '^add-on trace' "$out/inline.bench.log"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

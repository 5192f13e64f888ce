#!/usr/bin/env bash
# Mixed LMM + diffusion traffic in one run: what image generation does to text requests' latency.
# For each deployment, the same streaming text requests (random prompts, Poisson arrivals) are sent
# twice: alone (`tessera bench serve --seed 3`) and interleaved with image generations
# (`tessera bench images --seed 1 --text-model …`, whose text requests and arrivals are exactly those
# of `bench serve --seed 3`). Deployments, 2 cores' threads in all:
#   single    `tessera serve --model … --image-model …`, one process (--threads 2) serving both;
#   topology  `--topology examples/topologies/images.yaml`: the text model on a mono worker, the
#             diffusion model on two image workers (--threads 1 each).
# Prints a markdown table of text TTFT / ITL / E2E (alone and mixed) and the images' latency; JSON
# results go to $OUT (default bench-work/mixed-traffic).
# Usage: TESSERA_BINARY=.build/debug/tessera scripts/bench/images_mixed_traffic.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/bench.sh
bench_output bench-work/mixed-traffic
text=(--request-rate "${TEXT_RATE:-1}" --burstiness 1)
lengths=(--input-len "${INPUT_LEN:-64}" --output-len "${OUTPUT_LEN:-32}")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| deployment | text traffic | text TTFT p50 / p99 (ms) | text ITL p50 / p99 (ms) | text E2E mean (ms) | text failed | image latency mean / p99 (ms) | images/s |"
echo "|---|---|---|---|---|---|---|---|"
for deployment in single topology; do
    port=$(free_port)
    if [[ $deployment == single ]]; then
        serve=(--threads 2)
    else
        serve=(--topology examples/topologies/images.yaml --threads 1)
    fi
    serve_in_background "$out/$deployment.server.log" "$binary" serve --model fixtures/models/llama-gqa --image-model fixtures/diffusion/sd1-tiny \
        --port "$port" --max-queued-images 256 --kv-cache-memory 16 "${serve[@]}"
    keep_server_log=1
    wait_healthy "$port"
    "$binary" bench serve --base-url "http://127.0.0.1:$port" --model llama-gqa --dataset random --num-prompts "${TEXT_REQUESTS:-40}" \
        "${lengths[@]}" "${text[@]}" --seed 3 --result-json "$out/$deployment.alone.json" >"$out/$deployment.alone.log" 2>&1
    "$binary" bench images --base-url "http://127.0.0.1:$port" --model sd1-tiny --size "${SIZE:-64x64}" --steps "${STEPS:-10}" --seed 1 \
        --num-requests "${IMAGES:-12}" --request-rate "${IMAGE_RATE:-0.3}" --burstiness 1 --text-model llama-gqa \
        --text-requests "${TEXT_REQUESTS:-40}" --text-request-rate "${TEXT_RATE:-1}" --text-input-len "${INPUT_LEN:-64}" \
        --text-output-len "${OUTPUT_LEN:-32}" --result-json "$out/$deployment.mixed.json" >"$out/$deployment.mixed.log" 2>&1
    stop_server
    python3 - "$out" "$deployment" <<'PY'
import json, sys
out, deployment = sys.argv[1:]
alone = json.load(open(f"{out}/{deployment}.alone.json"))
mixed = json.load(open(f"{out}/{deployment}.mixed.json"))
def row(kind, t, images):
    image = f"{images['latency_ms']['mean']:.0f} / {images['latency_ms']['p99']:.0f} | {images['image_throughput']:.3f}" if images else "— | —"
    print(f"| {deployment} | {kind} | {t['ttft_ms']['median']:.1f} / {t['ttft_ms']['p99']:.1f} | {t['itl_ms']['median']:.2f} / {t['itl_ms']['p99']:.2f} | "
          f"{t['e2el_ms']['mean']:.0f} | {t['failed']} | {image} |")
row("alone", alone, None)
row("with images", mixed["text"], mixed)
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# CFG split (Katz/SwiftDiffusion latent parallelism, §4.3): what running a guided image's conditional
# and unconditional UNet passes on two image workers buys, live and at cluster scale.
#  1. Live: the same NUM_REQUESTS (default 6) images, sent one at a time (`bench images
#     --max-concurrency 1`, so a lone image's latency is measured), against three deployments with
#     THREADS_TOTAL (default 2) threads in all:
#       single  `tessera serve --image-model` with all the threads;
#       pair    `tessera serve --topology` with two image workers of half the threads each, no split
#               (a lone image runs whole on one of them);
#       split   the same two workers with `cfg_split: true` (examples/topologies/images-cfg-split.yaml):
#               each image's unconditional rows on the second worker, noise predictions exchanged every step.
#  2. At cluster scale, when COSTMODEL is given (a `tessera profile --image-model` output, e.g.
#     images_sim_vs_live.sh's $OUT/costmodel.0.json): SIM_REQUESTS (200) images of SIZE with STEPS + 1
#     UNet evaluations (PNDM), Poisson at each of SIM_RATES per second, on IMAGE_WORKERS (4) image
#     workers with and without the split (`tessera simulate`); prints latency and the no-split / split ratio.
# MODEL defaults to fixtures/diffusion/sd1-tiny (the topologies' text worker serves fixtures/models/llama-gqa).
# One 2-step image warms each deployment up (not counted). Prints markdown tables; results go to $OUT
# (default bench-work/cfg-split).
# Usage: TESSERA_BINARY=.build/debug/tessera [MODEL=DIR SIZE=64x64 STEPS=10] scripts/bench/images_cfg_split.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/bench.sh
source scripts/lib/image_bench.sh
bench_setup fixtures/diffusion/sd1-tiny bench-work/cfg-split "${MODEL:-}"
size="${SIZE:-64x64}" steps="${STEPS:-10}" total="${THREADS_TOTAL:-2}"
half=$((total > 1 ? total / 2 : 1))
for split in false true; do
    cat >"$out/topology-$split.yaml" <<YAML
groups:
  - group: text
    workers:
      - {role: mono, count: 1}
  - group: image
    cfg_split: $split
    workers:
      - {role: image, count: 2}
YAML
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| deployment | threads | latency mean (ms) | p50 (ms) | p99 (ms) | std (ms) | images/s | failed |"
echo "|---|---|---|---|---|---|---|---|"
for deployment in single pair split; do
    port=$(free_port)
    keep_server_log=1
    case $deployment in
        single) serve_in_background "$out/$deployment.server.log" "$binary" serve --image-model "$model" --port "$port" \
                    --threads "$total" --kv-cache-memory 16
                threads="$total" ;;
        *) [[ $deployment == split ]] && topology="$out/topology-true.yaml" || topology="$out/topology-false.yaml"
           serve_in_background "$out/$deployment.server.log" "$binary" serve --model fixtures/models/llama-gqa --image-model "$model" \
               --topology "$topology" --port "$port" --threads "$half" --kv-cache-memory 16
           threads="2 × $half" ;;
    esac
    image_server_ready "$port" "$name" "$size"
    "$binary" bench images --base-url "http://127.0.0.1:$port" --model "$name" --num-requests "${NUM_REQUESTS:-6}" \
        --max-concurrency 1 --size "$size" --steps "$steps" --seed 1 --result-json "$out/$deployment.json" \
        >"$out/$deployment.bench.log" 2>&1
    metrics_since "$port" "$out/$deployment.metrics"
    stop_server
    result_row "$out/$deployment.json" "$deployment" "$threads" "{r['latency_ms']['mean']:.0f}" "{r['latency_ms']['median']:.0f}" \
        "{r['latency_ms']['p99']:.0f}" "{r['latency_ms']['std']:.0f}" "{r['image_throughput']:.3f}" "{r['failed']}"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[[ -n ${COSTMODEL:-} ]] || exit 0
cp "$COSTMODEL" "$out/costmodel.json"
echo
echo "| images/s | no split mean / p50 / p99 (s) | split mean / p50 / p99 (s) | no split / split mean | p99 |"
echo "|---|---|---|---|---|"
for rate in ${SIM_RATES:-0.01 0.05 0.1}; do
    python3 - "$out" "$rate" "$size" "$((steps + 1))" "${SIM_REQUESTS:-200}" "${IMAGE_WORKERS:-4}" <<'PY'
import json, random, sys
out, rate, size, steps, count, workers = sys.argv[1:]
width, height = map(int, size.split("x"))
rng, arrival = random.Random(5), 0.0
with open(f"{out}/trace.{rate}.jsonl", "w") as f:
    for _ in range(int(count)):
        arrival += rng.expovariate(float(rate))
        f.write(json.dumps({"arrival": arrival, "image_generation": {
            "steps": int(steps), "width": width, "height": height, "guidance_scale": 7.5}}) + "\n")
system = lambda name, split: {"name": name, "deployment": {"slots": [{"role": "image", "group": "image", "count": int(workers)}]},
                              "cfgSplit": split}
json.dump({"name": f"cfg-split-{rate}", "costModel": "costmodel.json", "trace": {"file": f"trace.{rate}.jsonl", "format": "jsonl"},
           "slo": {"classes": {"standard": {"ttft": 3600, "tpot": 3600}}, "defaultClass": "standard"},
           "systems": [system("no-split", False), system("split", True)]}, open(f"{out}/sim.{rate}.json", "w"), indent=2)
PY
    "$binary" simulate --config "$out/sim.$rate.json" --out "$out/sim.$rate" >"$out/sim.$rate.log"
    python3 - "$out/sim.$rate/results.json" "$rate" <<'PY'
import json, sys
runs = {r["system"]: r["imageLatency"] for r in json.load(open(sys.argv[1]))["runs"]}
whole, split = runs["no-split"], runs["split"]
row = lambda l: f"{l['mean']:.2f} / {l['p50']:.2f} / {l['p99']:.2f}"
print(f"| {sys.argv[2]} | {row(whole)} | {row(split)} | {whole['mean'] / split['mean']:.2f}× | {whole['p99'] / split['p99']:.2f}× |")
PY
done

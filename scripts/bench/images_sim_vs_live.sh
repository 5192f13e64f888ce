#!/usr/bin/env bash
# Benchmark (d): the same image workload live and in the simulator with the profiled cost model.
#  1. `tessera profile --image-model` measures this machine's image-worker costs (UNet step per
#     batch size, VAE decode, text encoding, ControlNet call, LoRA load and merge) into a cost model
#     (the language-model sections are kept from --base);
#  2. each workload runs live against `tessera serve --image-model` (with the fixture's two LoRAs and
#     its ControlNet registered), and the trace it sent (`bench images --trace-out`) becomes a
#     simulator trace (`image_generation` lines at the same arrivals, add-ons and sizes, with the
#     UNet evaluations per image the server counted as steps);
#  3. `tessera simulate` runs that trace on one image worker with the same step-batch cap, image
#     batcher and LoRA start step, and the script prints each metric live, simulated and their ratio.
# Workloads: `plain` (Poisson, no add-ons) and `addons` (a Katz-like trace over the fixture's
# add-ons). Both use THREADS (default 2) threads live and when profiling. JSON results, the cost
# model and the simulator's inputs go to $OUT (default bench-work/sim-vs-live).
# Usage: TESSERA_BINARY=.build/debug/tessera scripts/bench/images_sim_vs_live.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/bench.sh
bench_output bench-work/sim-vs-live
threads="${THREADS:-2}" size="${SIZE:-64x64}" steps="${STEPS:-10}" batch="${BATCH:-8}" start="${LORA_START_STEP:-2}"
batcher="${IMAGE_BATCHER:-mixed-lora}"
lora=fixtures/diffusion/loras/sd1-tiny-peft.safetensors
control=fixtures/diffusion/control-images/control-a.png
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$binary" profile --base examples/sim/costmodels/sd1-tiny-cpu.json --image-model fixtures/diffusion/sd1-tiny --diffusion-sizes "${DIFFUSION_SIZES:-$size,96x96}" \
    --diffusion-batch-sizes 1,2,4 --lora "$lora" --controlnet fixtures/diffusion/controlnet-sd1-tiny --control-image "$control" \
    --max-image-batch "$batch" --threads "$threads" --runs "${RUNS:-3}" --out "$out/costmodel.json" >"$out/profile.log" 2>&1
echo "| workload | metric | live | simulated | simulated / live |"
echo "|---|---|---|---|---|"
for workload in plain addons; do
    port=$(free_port)
    serve_in_background "$out/$workload.server.log" "$binary" serve --image-model fixtures/diffusion/sd1-tiny --port "$port" --threads "$threads" \
        --max-image-batch "$batch" --image-batcher "$batcher" --lora-start-step "$start" --max-queued-images 256 --kv-cache-memory 16 \
        --lora "peft=$lora" --lora kohya=fixtures/diffusion/loras/sd1-tiny-kohya.safetensors --controlnet edges=fixtures/diffusion/controlnet-sd1-tiny
    keep_server_log=1
    wait_healthy "$port"
    extra=()
    [[ $workload == addons ]] && extra=(--katz-trace --control-image "$control")
    "$binary" bench images --base-url "http://127.0.0.1:$port" --model sd1-tiny --size "$size" --steps "$steps" --guidance 7.5 --seed 1 \
        --num-requests "${NUM_REQUESTS:-16}" --request-rate "${RATE:-0.5}" "${extra[@]}" --trace-out "$out/$workload.trace.jsonl" \
        --result-json "$out/$workload.live.json" >"$out/$workload.bench.log" 2>&1
    curl -fsS "http://127.0.0.1:$port/metrics" >"$out/$workload.metrics"
    stop_server
    python3 - "$out" "$workload" "$size" "$batch" "$start" "$batcher" <<'PY'
import json, sys
out, workload, size, batch, start, batcher = sys.argv[1:]
width, height = map(int, size.split("x"))
# The simulator's steps are UNet evaluations: the scheduler's, not num_inference_steps (PNDM, the
# fixture's default, runs one more), as the server counted them.
metric = lambda name: sum(float(line.split()[-1]) for line in open(f"{out}/{workload}.metrics") if line.startswith(f"tessera:{name}{{"))
steps = round(metric("image_steps_total") / metric("images_generated_total"))
with open(f"{out}/{workload}.sim-trace.jsonl", "w") as f:
    for line in open(f"{out}/{workload}.trace.jsonl"):
        e = json.loads(line)
        f.write(json.dumps({"arrival": e["timestamp"], "image_generation": {"steps": steps, "width": width, "height": height,
                 "guidance_scale": 7.5, "loras": e["loras"], "controlnets": e["controlnets"]}}) + "\n")
config = {"name": f"images-{workload}", "costModel": "costmodel.json",
          "trace": {"file": f"{workload}.sim-trace.jsonl", "format": "jsonl"},
          "slo": {"classes": {"standard": {"ttft": 3600, "tpot": 3600}}, "defaultClass": "standard"},
          "systems": [{"name": "live-equivalent", "deployment": {"slots": [{"role": "image", "group": "image", "count": 1}]},
                       "maxImageBatch": int(batch), "loraStartStep": int(start), "imageBatcher": batcher}]}
json.dump(config, open(f"{out}/{workload}.sim.json", "w"), indent=2)
PY
    "$binary" simulate --config "$out/$workload.sim.json" --out "$out/$workload.sim" >"$out/$workload.sim.log"
    python3 - "$out" "$workload" <<'PY'
import json, sys
out, workload = sys.argv[1:]
live = json.load(open(f"{out}/{workload}.live.json"))
run = json.load(open(f"{out}/{workload}.sim/results.json"))["runs"][0]
sim = run["imageLatency"]
rows = [("images/s", live["image_throughput"], run["completed"] / run["makespan"]),
        ("latency mean (ms)", live["latency_ms"]["mean"], 1000 * sim["mean"]),
        ("latency p50 (ms)", live["latency_ms"]["median"], 1000 * sim["p50"]),
        ("latency p90 (ms)", live["p90_latency_ms"], 1000 * sim["p90"]),
        ("latency p99 (ms)", live["latency_ms"]["p99"], 1000 * sim["p99"])]
for name, l, s in rows:
    ratio = s / l if l else float("nan")
    print(f"| {workload} | {name} | {l:.3f} | {s:.3f} | {ratio:.2f}{'' if abs(ratio - 1) <= 0.25 else ' (outside 25%)'} |")
if live["failed"]:
    print(f"| {workload} | failed live requests | {live['failed']} | | |")
PY
done
grep '^add-on trace' "$out/addons.bench.log" || true
grep -E '^(image worker|  )' "$out/profile.log" | head -5 || true
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

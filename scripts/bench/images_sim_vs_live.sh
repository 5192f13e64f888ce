#!/usr/bin/env bash
# Benchmark (d): the same image workload live and in the simulator with the profiled cost model.
#  1. `tessera profile --image-model` measures this machine's image-worker costs (UNet step per
#     batch size, VAE decode, text encoding, ControlNet call, LoRA load, bind, merge and unmerged
#     use) into a cost model (the language-model sections are kept from --base), before each
#     workload and after the last (a shared machine's speed drifts within minutes);
#  2. each workload runs live against `tessera serve --image-model` (with the fixture's two LoRAs and
#     its ControlNet registered), and the trace it sent (`bench images --trace-out`) becomes a
#     simulator trace (`image_generation` lines at the same arrivals, add-ons and sizes, with the
#     UNet evaluations per image the server counted as steps);
#  3. `tessera simulate` runs that trace on one image worker with the same step-batch cap, image
#     batcher and LoRA start step, on the costs profiled right before the live run and on those
#     profiled right after it; the script prints each metric live, simulated and their ratio, then
#     where the image worker's time went: the live loop's phases (`image_loop_seconds_total`), UNet
#     calls and images per call against what the simulator charged and batched.
# Workloads (WORKLOADS, default "plain addons"): `plain` (Poisson, no add-ons) and `addons` (a
# Katz-like trace over the add-ons). MODEL (default fixtures/diffusion/sd1-tiny), LORAS
# (space-separated NAME=PATH) and CONTROLNETS (NAME=DIR) default to the fixture's; the profile
# measures the first of each, conditioned on CONTROL_IMAGE, at DIFFUSION_SIZES (default SIZE and 96x96).
# One 2-step image warms each server up (not counted). Both use THREADS (default 2) threads live and
# when profiling. JSON results, the cost model and the simulator's inputs go to $OUT (default bench-work/sim-vs-live).
# Usage: TESSERA_BINARY=.build/debug/tessera [MODEL=DIR LORAS="…" CONTROLNETS="…"] scripts/bench/images_sim_vs_live.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/bench.sh
source scripts/lib/image_bench.sh
bench_output bench-work/sim-vs-live
threads="${THREADS:-2}" size="${SIZE:-64x64}" steps="${STEPS:-10}" batch="${BATCH:-8}" start="${LORA_START_STEP:-2}"
batcher="${IMAGE_BATCHER:-mixed-lora}"
model="${MODEL:-fixtures/diffusion/sd1-tiny}"
name=$(basename "$model")
control="${CONTROL_IMAGE:-fixtures/diffusion/control-images/control-a.png}"
read -ra lora_list <<<"${LORAS:-peft=fixtures/diffusion/loras/sd1-tiny-peft.safetensors kohya=fixtures/diffusion/loras/sd1-tiny-kohya.safetensors}"
read -ra controlnet_list <<<"${CONTROLNETS:-edges=fixtures/diffusion/controlnet-sd1-tiny}"
addons=()
for lora in "${lora_list[@]}"; do addons+=(--lora "$lora"); done
for controlnet in "${controlnet_list[@]}"; do addons+=(--controlnet "$controlnet"); done
lora="${lora_list[0]#*=}" controlnet="${controlnet_list[0]#*=}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
profile() {  # profile N: this machine's image-worker costs now, into $out/costmodel.N.json
    "$binary" profile --base examples/sim/costmodels/sd1-tiny-cpu.json --image-model "$model" --diffusion-sizes "${DIFFUSION_SIZES:-$size,96x96}" \
        --diffusion-batch-sizes 1,2,4 --lora "$lora" --controlnet "$controlnet" --control-image "$control" \
        --max-image-batch "$batch" --threads "$threads" --runs "${RUNS:-3}" --out "$out/costmodel.$1.json" >"$out/profile.$1.log" 2>&1
}
profile 0
echo "| workload | metric | live | simulated | simulated / live | simulated, profile after | simulated / live, profile after |"
echo "|---|---|---|---|---|---|---|"
n=0
for workload in ${WORKLOADS:-plain addons}; do
    port=$(free_port)
    serve_in_background "$out/$workload.server.log" "$binary" serve --image-model "$model" --port "$port" --threads "$threads" \
        --max-image-batch "$batch" --image-batcher "$batcher" --lora-start-step "$start" --max-queued-images 256 --kv-cache-memory 16 \
        --adapter-cache "${ADAPTER_CACHE:-1024}" "${addons[@]}"
    keep_server_log=1
    image_server_ready "$port" "$name" "$size"
    extra=()
    [[ $workload == addons ]] && extra=(--katz-trace --control-image "$control")
    "$binary" bench images --base-url "http://127.0.0.1:$port" --model "$name" --size "$size" --steps "$steps" --guidance 7.5 --seed 1 \
        --num-requests "${NUM_REQUESTS:-16}" --request-rate "${RATE:-0.5}" "${extra[@]}" --trace-out "$out/$workload.trace.jsonl" \
        --result-json "$out/$workload.live.json" >"$out/$workload.bench.log" 2>&1
    metrics_since "$port" "$out/$workload.metrics"
    stop_server
    # The machine's speed drifts with its other load: the costs profiled right after the live run
    # bracket the simulation with those profiled right before it.
    profile $((n + 1))
    for k in $n $((n + 1)); do
        python3 - "$out" "$workload" "$size" "$batch" "$start" "$batcher" "$k" <<'PY'
import json, sys
out, workload, size, batch, start, batcher, k = sys.argv[1:]
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
config = {"name": f"images-{workload}", "costModel": f"costmodel.{k}.json",
          "trace": {"file": f"{workload}.sim-trace.jsonl", "format": "jsonl"},
          "slo": {"classes": {"standard": {"ttft": 3600, "tpot": 3600}}, "defaultClass": "standard"},
          "systems": [{"name": "live-equivalent", "deployment": {"slots": [{"role": "image", "group": "image", "count": 1}]},
                       "maxImageBatch": int(batch), "loraStartStep": int(start), "imageBatcher": batcher}]}
json.dump(config, open(f"{out}/{workload}.sim.{k}.json", "w"), indent=2)
PY
        "$binary" simulate --config "$out/$workload.sim.$k.json" --out "$out/$workload.sim.$k" >"$out/$workload.sim.$k.log"
    done
    python3 - "$out" "$workload" "$n" <<'PY'
import json, sys
out, workload, n = sys.argv[1:]
live = json.load(open(f"{out}/{workload}.live.json"))
runs = [json.load(open(f"{out}/{workload}.sim.{k}/results.json"))["runs"][0] for k in (int(n), int(n) + 1)]
rows = [("images/s", live["image_throughput"], [r["completed"] / r["makespan"] for r in runs])]
for name, key, sim in [("mean", "mean", "mean"), ("p50", "median", "p50"), ("p90", None, "p90"), ("p99", "p99", "p99")]:
    rows.append((f"latency {name} (ms)", live["p90_latency_ms"] if key is None else live["latency_ms"][key], [1000 * r["imageLatency"][sim] for r in runs]))
# Where the image worker's time went: the live engine loop's phases against what the simulator charged.
metric = lambda name, label="": sum(float(line.split()[-1]) for line in open(f"{out}/{workload}.metrics")
                                    if line.startswith(f"tessera:{name}{{") and label in line)
phases = [("admission", "admission"), ("lora_activation", "loraActivation"), ("lora_merge", "loraMerge"), ("unet", "unet"), ("decode", "decode")]
for phase, key in phases:
    rows.append((f"worker s: {phase}", metric("image_loop_seconds_total", f'phase="{phase}"'), [r["imageWork"]["seconds"][key] for r in runs]))
rows.append(("UNet calls", metric("image_unet_calls_total"), [r["imageWork"]["unetCalls"] for r in runs]))
rows.append(("images per UNet call", metric("image_steps_total") / metric("image_unet_calls_total"),
             [r["imageWork"]["imageSteps"] / r["imageWork"]["unetCalls"] for r in runs]))
def ratio(s, l):
    if not l:
        return ""
    r = s / l
    return f"{r:.2f}{'' if abs(r - 1) <= 0.25 else ' (outside 25%)'}"
for name, l, (before, after) in rows:
    print(f"| {workload} | {name} | {l:.3f} | {before:.3f} | {ratio(before, l)} | {after:.3f} | {ratio(after, l)} |")
if live["failed"]:
    print(f"| {workload} | failed live requests | {live['failed']} | | | | |")
PY
    n=$((n + 1))
done
grep '^add-on trace' "$out/addons.bench.log" 2>/dev/null || true
for ((k = 0; k <= n; k++)); do grep -E '^image worker' "$out/profile.$k.log" | sed "s/^/profile $k: /" || true; done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

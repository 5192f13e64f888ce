#!/usr/bin/env bash
# Benchmark (b) at cluster scale, in the simulator: what the ControlNet service and bounded
# asynchronous LoRA loading buy when controlnet workers have hardware of their own (on one 2-core
# host they cannot: the split adds no compute). On COSTMODEL (a `tessera profile --image-model …
# --lora FILE --controlnet DIR` output, e.g. images_sim_vs_live.sh's $OUT/costmodel.0.json), for
# k = 1, 2, 3 ControlNets a request, one trace of NUM_REQUESTS (default 200) images of SIZE with
# STEPS UNet evaluations (PNDM: num_inference_steps + 1), Poisson at RATE per second, each naming k
# of the CONTROLNET_POOL (20) ControlNets and one LoRA of LORA_POOL (1000, Zipf 1.1: most are not
# cached), simulated on IMAGE_WORKERS (4) image workers (--max-image-batch BATCH, 8):
#   inline   ControlNets run in the image worker, LoRAs load before the first step (loraStartStep 0);
#   service  CONTROLNET_WORKERS (3 per image worker) controlnet workers run the ControlNets, overlapped
#            with the UNet's down pass, and LoRAs apply from step LORA_START_STEP (2) while they load;
#   service, no BAL  the same workers with LoRAs loaded before the first step (what BAL alone buys).
# Prints image latency (mean, p50, p99) and inline / service ratios; inputs and results go to $OUT
# (default bench-work/addons-sim). `tessera simulate` only: no server, a few seconds of CPU.
# Usage: COSTMODEL=FILE [SIZE=256x256 STEPS=9 RATE=0.05] scripts/bench/images_addons_sim.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/bench.sh
bench_output bench-work/addons-sim
: "${COSTMODEL:?COSTMODEL=FILE: a tessera profile --image-model output}"
cp "$COSTMODEL" "$out/costmodel.json"
workers="${IMAGE_WORKERS:-4}"
echo "| ControlNets a request | inline mean / p50 / p99 (s) | service mean / p50 / p99 (s) | inline / service mean | p99 | service without BAL mean (s) |"
echo "|---|---|---|---|---|---|"
for k in 1 2 3; do
    python3 - "$out" "$k" "${SIZE:-256x256}" "${STEPS:-9}" "${RATE:-0.05}" "${NUM_REQUESTS:-200}" "${CONTROLNET_POOL:-20}" "${LORA_POOL:-1000}" \
        "$workers" "${CONTROLNET_WORKERS:-$((3 * workers))}" "${BATCH:-8}" "${LORA_START_STEP:-2}" <<'PY'
import json, random, sys
out, k, size, steps, rate, count, controlnets, loras, workers, servers, batch, start = sys.argv[1:]
k, steps, rate, count, controlnets, loras = int(k), int(steps), float(rate), int(count), int(controlnets), int(loras)
width, height = map(int, size.split("x"))
rng = random.Random(11 + k)
weights = [1 / (i + 1) ** 1.1 for i in range(loras)]
arrival = 0.0
with open(f"{out}/trace.{k}.jsonl", "w") as f:
    for _ in range(count):
        arrival += rng.expovariate(rate)
        f.write(json.dumps({"arrival": arrival, "image_generation": {
            "steps": steps, "width": width, "height": height, "guidance_scale": 7.5,
            "controlnets": [f"controlnet-{i}" for i in rng.sample(range(controlnets), k)],
            "loras": [f"lora-{rng.choices(range(loras), weights)[0]}"]}}) + "\n")
image = lambda count: {"role": "image", "group": "image", "count": count}
system = lambda name, slots, start: {"name": name, "deployment": {"slots": slots}, "maxImageBatch": int(batch), "loraStartStep": start}
json.dump({"name": f"addons-{k}", "costModel": "costmodel.json", "trace": {"file": f"trace.{k}.jsonl", "format": "jsonl"},
           "slo": {"classes": {"standard": {"ttft": 3600, "tpot": 3600}}, "defaultClass": "standard"},
           "systems": [system("inline", [image(int(workers))], 0),
                       system("service", [image(int(workers)), {"role": "controlnet", "group": "image", "count": int(servers)}], int(start)),
                       system("service-no-bal", [image(int(workers)), {"role": "controlnet", "group": "image", "count": int(servers)}], 0)]},
          open(f"{out}/sim.{k}.json", "w"), indent=2)
PY
    "$binary" simulate --config "$out/sim.$k.json" --out "$out/sim.$k" >"$out/sim.$k.log"
    python3 - "$out/sim.$k/results.json" "$k" <<'PY'
import json, sys
runs = {r["system"]: r for r in json.load(open(sys.argv[1]))["runs"]}
inline, service = (runs[name]["imageLatency"] for name in ("inline", "service"))
row = lambda l: f"{l['mean']:.2f} / {l['p50']:.2f} / {l['p99']:.2f}"
print(f"| {sys.argv[2]} | {row(inline)} | {row(service)} | {inline['mean'] / service['mean']:.2f}× | {inline['p99'] / service['p99']:.2f}× | "
      f"{runs['service-no-bal']['imageLatency']['mean']:.2f} |")
PY
done

#!/usr/bin/env bash
# Disaggregated serving comparison: each topology in examples/topologies/bench-*.yaml serves one
# mixed workload, text-only and image requests sent at once by two `tessera bench serve` clients
# (images repeat with probability 0.5). Prints a Markdown table; JSON results go to $OUT (default
# bench-work/disagg). TESSERA_BINARY skips the release build and uses that executable.
# Usage: scripts/bench/disagg_serving.sh [MODEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/bench.sh
bench_setup fixtures/models/llava-tiny bench-work/disagg "$@"
slo="ttft:1000,tpot:100"

run() {
    local label=$1 topology=$2 port
    port=$(free_port)
    keep_server_log=1
    serve_in_background "$out/$label.server.log" "$binary" serve --model "$model" --port "$port" --topology "$topology" \
        --kv-cache-memory 64 --max-queued-requests 512
    wait_healthy "$port"
    "$binary" bench serve --base-url "http://127.0.0.1:$port" --model "$name" --dataset random --endpoint completions \
        --num-prompts 60 --request-rate 6 --input-len 128 --output-len 32 --goodput "$slo" --seed 1 \
        --result-json "$out/$label.text.json" >/dev/null 2>&1 &
    local text=$!
    "$binary" bench serve --base-url "http://127.0.0.1:$port" --model "$name" --dataset random-mm --num-prompts 30 \
        --request-rate 3 --input-len 64 --output-len 32 --image-size 224x224 --image-reuse 0.5 --goodput "$slo" --seed 2 \
        --result-json "$out/$label.mm.json" >/dev/null 2>&1
    wait "$text"
    curl -fsS "http://127.0.0.1:$port/metrics" >"$out/$label.metrics"
    stop_server
}

labels="${LABELS:-mono-x2 mono-x3 pd pd-push epd groups-elastic}"
for label in $labels; do
    topology=examples/topologies/bench-$label.yaml
    run "$label" "$topology"
done

python3 - "$out" $labels <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print("| topology | workers | text TTFT p50 / p99 (ms) | image TTFT p50 / p99 (ms) | goodput (req/s) | bytes moved / request |")
print("| --- | --- | --- | --- | --- | --- |")
for label in sys.argv[2:]:
    text = json.loads((out / f"{label}.text.json").read_text())
    mm = json.loads((out / f"{label}.mm.json").read_text())
    metrics = (out / f"{label}.metrics").read_text().splitlines()
    value = lambda name: sum(float(l.split()[-1]) for l in metrics if l.startswith(name))
    requests = text["completed"] + mm["completed"]
    topology = pathlib.Path(f"examples/topologies/bench-{label}.yaml").read_text()
    workers = sum(int(part.split(",")[0]) for part in topology.split("count: ")[1:])
    print(f"| {label} | {workers} | {text['ttft_ms']['median']:.0f} / {text['ttft_ms']['p99']:.0f} "
          f"| {mm['ttft_ms']['median']:.0f} / {mm['ttft_ms']['p99']:.0f} "
          f"| {text['request_goodput'] + mm['request_goodput']:.2f} "
          f"| {value('tessera:kv_transfer_bytes_total') / max(requests, 1) / 1024:.0f} KiB |")
PY

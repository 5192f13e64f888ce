#!/usr/bin/env bash
# SLO-aware batching live: one mixed-SLO load (half the requests in a tight TTFT class, half in a
# relaxed one, interleaved) against `tessera serve` with each batch policy in turn. Prints TTFT SLO
# attainment per class; JSON results go to $OUT (default bench-work/slo). TESSERA_BINARY skips the
# release build and uses that executable.
# Usage: scripts/bench/slo_batching.sh [MODEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/bench.sh
bench_setup fixtures/models/llama-sp bench-work/slo "$@"
tight_ms="${TIGHT_MS:-1500}"
relaxed_ms=60000
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| policy | tight attainment | relaxed attainment | TTFT p50 (ms) | TTFT p99 (ms) |"
echo "|---|---|---|---|---|"
for policy in ${POLICIES:-fcfs slo-ordered slo-short-first}; do
    port=$(free_port)
    keep_server_log=1
    serve_in_background "$out/$policy.server.log" "$binary" serve --model "$model" --port "$port" --max-num-seqs 2 --kv-cache-memory 64 \
        --max-queued-requests 512 --batch-policy "$policy" --slo-class "tight=$(awk "BEGIN{print $tight_ms/1000}")" --slo-class relaxed=60 \
        --default-slo-class relaxed
    wait_healthy "$port"
    "$binary" bench serve --base-url "http://127.0.0.1:$port" --model "$name" --dataset random --endpoint completions \
        --num-prompts "${NUM_PROMPTS:-80}" --request-rate "${RATE:-20}" --input-len 64 --output-len 48 --seed 1 \
        --slo-mix "tight=$tight_ms:1,relaxed=$relaxed_ms:1" --result-json "$out/$policy.json" >/dev/null 2>&1
    stop_server
    result_row "$out/$policy.json" "$policy" "{r['slo_attainment']['tight']:.3f}" "{r['slo_attainment']['relaxed']:.3f}" \
        "{r['ttft_ms']['median']:.0f}" "{r['ttft_ms']['p99']:.0f}"
done
    "$binary" bench serve --base-url "http://127.0.0.1:$port" --model "$name" --dataset random --endpoint completions \
        --num-prompts "${NUM_PROMPTS:-80}" --request-rate "${RATE:-20}" --input-len 64 --output-len 48 --seed 1 \
        --slo-mix "tight=$tight_ms:1,relaxed=$relaxed_ms:1" --result-json "$out/$policy.json" >/dev/null 2>&1
    kill "$server"; wait "$server" 2>/dev/null || true
    python3 - "$out/$policy.json" "$policy" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a = r["slo_attainment"]
print(f"| {sys.argv[2]} | {a['tight']:.3f} | {a['relaxed']:.3f} | {r['ttft_ms']['median']:.0f} | {r['ttft_ms']['p99']:.0f} |")
PY
done

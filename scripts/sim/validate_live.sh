#!/usr/bin/env bash
# Validation of the simulator against the live system: profile the model on this machine, run one
# trace live (tessera serve, or tessera serve --topology, with tessera bench serve replaying the
# trace's arrival times) and simulated (tessera simulate with the profile and the same deployment),
# and print TTFT/TPOT live vs simulated.
#
#   scripts/sim/validate_live.sh [MODEL_DIR]     (default: the embedded default model)
#
# Environment: REQUESTS (200), RATE (req/s, 20), PORT (18431), OUT (sim-results/validation),
# THREADS (compute threads for the profile and for the server or each worker; default all cores),
# TOPOLOGY (a topology file: serve it with the worker processes and simulate its groups and roles;
# default one in-process server), BATCH_SIZES, PROMPT_LENGTHS, RUNS (profile points),
# TESSERA (a built binary).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:-Sources/tessera/Resources/DefaultModel}
REQUESTS=${REQUESTS:-200}
RATE=${RATE:-20}
PORT=${PORT:-18431}
OUT=${OUT:-sim-results/validation}
THREAD_ARGS=()
[ -n "${THREADS:-}" ] && THREAD_ARGS=(--threads "$THREADS")
TOPOLOGY_ARGS=()
[ -n "${TOPOLOGY:-}" ] && TOPOLOGY_ARGS=(--topology "$TOPOLOGY")
if [ -z "${TESSERA:-}" ]; then
  swift build -c release --product tessera >&2
  TESSERA=.build/release/tessera
fi
mkdir -p "$OUT"
echo "load before: $(uptime)"

python3 scripts/sim/validation_trace.py --model "$MODEL" --out "$OUT/trace.jsonl" --requests "$REQUESTS" --rate "$RATE"
"$TESSERA" profile --model "$MODEL" --out "$OUT/profile.json" --batch-sizes "${BATCH_SIZES:-1,2,4,8,16}" \
  --prompt-lengths "${PROMPT_LENGTHS:-16,64,160}" --runs "${RUNS:-5}" "${THREAD_ARGS[@]}" | tee "$OUT/profile.txt"

"$TESSERA" serve --model "$MODEL" --port "$PORT" --served-model-name validation "${THREAD_ARGS[@]}" "${TOPOLOGY_ARGS[@]}" > "$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break
  sleep 0.1
done
"$TESSERA" bench serve --base-url "http://127.0.0.1:$PORT" --model validation --endpoint completions \
  --dataset "$OUT/trace.jsonl" --num-prompts "$REQUESTS" --result-json "$OUT/live.json" > "$OUT/bench.txt" 2>&1
kill $SERVER
wait $SERVER 2>/dev/null || true
trap - EXIT

python3 scripts/sim/validation_config.py ${TOPOLOGY:+--topology "$TOPOLOGY"} > "$OUT/simulate.json"
"$TESSERA" simulate --config "$OUT/simulate.json" --out "$OUT/sim" > "$OUT/simulate.txt"
echo "load after: $(uptime)"
python3 scripts/sim/compare_validation.py "$OUT/live.json" "$OUT/sim/results.json"

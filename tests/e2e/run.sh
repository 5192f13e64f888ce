#!/usr/bin/env bash
# End-to-end tests of `tessera serve` with the official openai client, on a fixture model.
# Usage: tests/e2e/run.sh [extra pytest arguments]
# TESSERA_E2E_TOPOLOGY=examples/topologies/pd.yaml runs the same suite against worker processes;
# TESSERA_E2E_SUITE and TESSERA_E2E_PYTHON run another folder's tests (tests/compat/run.sh) on the same server.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/serve.sh
root=$(pwd)
scratch="${TESSERA_SCRATCH:-.build}"
model="${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}"

suite="${TESSERA_E2E_SUITE:-tests/e2e}"
python="${TESSERA_E2E_PYTHON:-python3}"
"$python" -c "import openai, pytest, requests, prometheus_client, numpy, safetensors, PIL" 2>/dev/null || python3 -m pip install --quiet --user -r tests/e2e/requirements.txt

swift build --scratch-path "$scratch" --product tessera
binary="$(swift build --scratch-path "$scratch" --show-bin-path)/tessera"

topology=()
if [[ -n "${TESSERA_E2E_TOPOLOGY:-}" ]]; then topology=(--topology "$TESSERA_E2E_TOPOLOGY"); fi

port=$(free_port)
# Small caps so back-pressure and body-size limits are reachable from the tests: with at most four
# requests running, a burst of requests is bound to leave more than twelve waiting. A short read
# timeout, so that stalled clients are seen disconnected within a test.
serve_in_background "$(mktemp)" "$binary" serve --model "$model" --host 127.0.0.1 --port "$port" --max-queued-requests 12 \
    --max-num-seqs 4 --max-body-size 1 --kv-cache-memory 64 --drain-timeout 5 --read-timeout 5 "${topology[@]}"
wait_healthy "$port"

export TESSERA_BASE_URL="http://127.0.0.1:$port" TESSERA_MODEL_DIR="$root/$model" TESSERA_SERVER_PID="$server" \
    TESSERA_BINARY="$binary" TESSERA_FIXTURES="$root/fixtures"
"$python" -m pytest -q "$suite" "$@"

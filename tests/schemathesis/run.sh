#!/usr/bin/env bash
# schemathesis against the OpenAPI document a live `tessera serve` publishes at /openapi.json:
# generated valid and invalid requests for every operation, checked for no 5xx, statuses and content
# types the document lists, and answers that validate against its schemas.
# Usage: tests/schemathesis/run.sh [extra schemathesis arguments]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/serve.sh
scratch="${TESSERA_SCRATCH:-.build}"
model="${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}"
version=$(cat tests/schemathesis/requirements.txt)
schemathesis=(python3 -m schemathesis.cli)
python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '${version#*==}')" 2>/dev/null \
    || python3 -m pip install --quiet --user -r tests/schemathesis/requirements.txt

swift build --scratch-path "$scratch" --product tessera
binary="$(swift build --scratch-path "$scratch" --show-bin-path)/tessera"
port=$(free_port)
# A short context bounds every generation, so thousands of generated requests run in a couple of minutes.
serve_in_background "$(mktemp)" "$binary" serve --model "$model" --host 127.0.0.1 --port "$port" --max-model-len 64 \
    --max-queued-requests 16 --max-num-seqs 4 --max-body-size 1 --kv-cache-memory 32 --read-timeout 10
wait_healthy "$port"

status=0
"${schemathesis[@]}" run "http://127.0.0.1:$port/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing --max-examples "${TESSERA_SCHEMATHESIS_EXAMPLES:-40}" --seed 15 \
    --workers 2 --request-timeout 60 --generation-database none --no-color "$@" || status=$?
if ! kill -0 "$server" 2>/dev/null; then echo "tessera serve died during the run:" >&2; cat "$server_log" >&2; exit 1; fi
if [[ $status != 0 ]]; then echo "--- server log (last 40 lines)"; tail -40 "$server_log"; fi
exit "$status"

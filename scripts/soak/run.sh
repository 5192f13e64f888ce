#!/usr/bin/env bash
# Soak test of a topology under faults (scripts/soak/soak.py says what is checked).
#   scripts/soak/run.sh [TOPOLOGY (pd, groups-epd, or a file)] [SECONDS, default 600]
# TESSERA_SOAK_CONFIGURATION=release soaks a release build (default: debug); TESSERA_SOAK_WARMUP sets
# the warm-up seconds (default 60); TESSERA_SOAK_SAMPLES=FILE writes each process's memory and the
# server's gauges there every 5 s (JSON lines).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/serve.sh
name=${1:-pd}
seconds=${2:-600}
topology=$name
if [[ ! -f $topology ]]; then topology=examples/topologies/$name.yaml; fi
model=fixtures/models/llava-tiny
configuration=${TESSERA_SOAK_CONFIGURATION:-debug}
python3 -c "import requests, prometheus_client" 2>/dev/null || python3 -m pip install --quiet --user -r tests/e2e/requirements.txt
# TESSERA_SOAK_BINARY soaks an already built binary instead.
binary=${TESSERA_SOAK_BINARY:-}
if [[ -z $binary ]]; then
    swift build -c "$configuration" --product tessera >&2
    binary="$(swift build -c "$configuration" --show-bin-path)/tessera"
fi
port=$(free_port)
# Capacity per decode worker: 4 running + 12 queued at the front end. The server log stays for reading.
keep_server_log=1
serve_in_background "$(mktemp /tmp/tessera-soak-XXXXXX.log)" "$binary" serve --model "$model" --host 127.0.0.1 --port "$port" \
    --topology "$topology" --max-num-seqs 4 --max-queued-requests 12 --kv-cache-memory 64 --read-timeout 30
wait_healthy "$port" 600
decoders=$(grep -cE 'role: *decode' "$topology")
echo "soak: $topology for $seconds s on $binary, model $model, server log $server_log (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 scripts/soak/soak.py --base-url "http://127.0.0.1:$port" --model llava-tiny --server-pid "$server" \
    --duration "$seconds" --warmup "${TESSERA_SOAK_WARMUP:-60}" --capacity $((decoders * 4 + 12)) \
    ${TESSERA_SOAK_SAMPLES:+--samples "$TESSERA_SOAK_SAMPLES"}

#!/usr/bin/env bash
# Multi-host end-to-end test: the front end, a prefill worker and a decode worker each in their own
# network namespace, joined by veth pairs through a bridge in the front end's namespace. Prompt KV
# moves from 10.77.0.2 to 10.77.0.3 over TCP; the openai suite runs against the front end at
# 10.77.0.1. Needs root; installs iproute2 when missing. Everything it creates is removed on exit.
# Usage: tests/e2e/multihost.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
scratch="${TESSERA_SCRATCH:-.build}"
model="${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}"

command -v ip >/dev/null || { apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null; }
python3 -c "import openai, pytest, requests" 2>/dev/null || python3 -m pip install --quiet --user -r tests/e2e/requirements.txt
swift build --scratch-path "$scratch" --product tessera
binary="$(swift build --scratch-path "$scratch" --show-bin-path)/tessera"

tag="ts$$"
fe="${tag}f" prefill="${tag}p" decode="${tag}d"
work=$(mktemp -d)
server=""
cleanup() {
    if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    for ns in "$fe" "$prefill" "$decode"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

for ns in "$fe" "$prefill" "$decode"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
ip -n "$fe" link add br0 type bridge
ip -n "$fe" addr add 10.77.0.1/24 dev br0
ip -n "$fe" link set br0 up
for host in "$prefill:2" "$decode:3"; do
    ns=${host%:*} last=${host#*:}
    ip link add "v$ns" type veth peer name "w$ns"
    ip link set "v$ns" netns "$fe"
    ip link set "w$ns" netns "$ns"
    ip -n "$fe" link set "v$ns" master br0 up
    ip -n "$ns" addr add "10.77.0.$last/24" dev "w$ns"
    ip -n "$ns" link set "w$ns" up
done

cat >"$work/topology.yaml" <<TOPOLOGY
transfer: tcp
control: tcp:10.77.0.1:0
groups:
  - group: text
    workers:
      - {role: prefill, count: 1, launcher: [ip, netns, exec, $prefill], transfer: "tcp:10.77.0.2:0"}
      - {role: decode, count: 1, launcher: [ip, netns, exec, $decode], transfer: "tcp:10.77.0.3:0"}
TOPOLOGY

ip netns exec "$fe" "$binary" serve --model "$model" --host 10.77.0.1 --port 8000 --topology "$work/topology.yaml" \
    --max-queued-requests 12 --max-body-size 1 --kv-cache-memory 64 --drain-timeout 5 --read-timeout 5 >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
    if ip netns exec "$fe" curl -fsS http://10.77.0.1:8000/health >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then cat "$work/server.log"; echo "tessera serve exited before becoming healthy" >&2; exit 1; fi
    sleep 0.2
done

in_fe() {
    ip netns exec "$fe" env TESSERA_BASE_URL=http://10.77.0.1:8000 TESSERA_E2E_TOPOLOGY="$work/topology.yaml" TESSERA_MODEL_DIR="$root/$model" TESSERA_SERVER_PID="$server" \
        TESSERA_BINARY="$binary" TESSERA_FIXTURES="$root/fixtures" "$@"
}
# Everything but the drain test, which stops the server.
in_fe timeout 600 python3 -m pytest -q tests/e2e -k "not sigterm" "$@"

# The KV really crossed namespaces: the front end counted it, and the decode host's link received it.
bytes=$(in_fe curl -fsS http://10.77.0.1:8000/metrics | awk '/^tessera:kv_transfer_bytes_total/ {print $2}')
received=$(ip -n "$decode" -s link show "w$decode" | awk '/RX:/ {getline; print $1}')
echo "KV moved over TCP: ${bytes:-0} bytes; decode host received ${received:-0} bytes"
awk -v b="${bytes:-0}" -v r="${received:-0}" 'BEGIN { exit !(b > 0 && r > b) }' || { echo "no KV crossed the hosts" >&2; exit 1; }

in_fe timeout 120 python3 -m pytest -q tests/e2e -k "sigterm"

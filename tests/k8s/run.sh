#!/usr/bin/env bash
# The Kubernetes suite against a real control plane: builds (or reuses) kube-apiserver,
# kube-controller-manager and kube-scheduler from Debian's source package, starts them with etcd on
# a bridge this script creates, adds two nodes (containerd + runc + kubelet; the second in a network
# namespace joined by a veth), and runs the KubernetesClient tests against it: Deployments and /scale
# driving real ReplicaSets, Pod list+watch and 410 Gone, label patches, pod deletion, Leases with
# resourceVersion preconditions and leader failover, and on the nodes drain-then-scale-down
# removing exactly the drained pod; then the pd topology through KubernetesInstanceProvider (tests/k8s/pd.sh);
# then applies deploy/kubernetes/base (an image of the tessera
# binary just built, packed without a registry), runs the e2e openai suite against its pod, scales
# it to one pod per node and asks each for a chat completion. Removes everything on exit and checks that it did.
# Needs root; skipped with a message when not root or when Kubernetes cannot be built here.
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch="${TESSERA_SCRATCH:-.build}"

if [[ $(id -u) != 0 ]]; then echo "tests/k8s: SKIPPED (needs root to run a Kubernetes control plane)"; exit 0; fi
if ! command -v kubectl >/dev/null; then echo "tests/k8s: SKIPPED (no kubectl on this machine; Debian packages none)"; exit 0; fi
if ! { ip link add tsk8sprobe type bridge && ip link del tsk8sprobe; } 2>/dev/null; then
    echo "tests/k8s: SKIPPED (cannot create network links here: no CAP_NET_ADMIN)"; exit 0
fi
if ! bin=$(tests/k8s/build-kubernetes.sh | tail -n1) || [[ ! -x $bin/kube-apiserver ]]; then
    echo "tests/k8s: SKIPPED (Kubernetes could not be built from Debian's source package on this machine)"
    exit 0
fi
missing=()
for tool in etcd:etcd-server containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins ip:iproute2 busybox:busybox-static; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends "${missing[@]}" >/dev/null; fi

source tests/k8s/cluster.sh
source tests/k8s/pd.sh
work=$(mktemp -d)
cleanup() {
    cluster_down
    if [[ ${TESSERA_K8S_KEEP_LOGS:-} == 1 ]]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
cluster_up "$work" "$bin"

# Images without a registry: the static pause from the Kubernetes tree as the sandbox, and a static
# busybox for the probe pods.
source scripts/lib/image.sh
k8s_images=$work/images k8s_pause_image=docker.io/tessera/pause:test
mkdir -p "$k8s_images" "$work/rootfs/pause/bin" "$work/rootfs/probe/bin"
install -m 0755 "$bin/pause" "$work/rootfs/pause/pause"
pack_image "$work/rootfs/pause" tessera/pause:test "$k8s_images/pause.tar" /pause
install -m 0755 "$(command -v busybox)" "$work/rootfs/probe/bin/busybox"
pack_image "$work/rootfs/probe" tessera/probe:test "$k8s_images/probe.tar" /bin/busybox sh
# Tessera itself, from the build the Swift suites ran on.
TESSERA_IMAGE_BINARY="$(swift build --scratch-path "$scratch" --show-bin-path)/tessera" \
    scripts/build-image.sh "$k8s_images/tessera.tar" tessera:local >/dev/null
node_up 1
node_up 2
nodes_ready 2 || { tail -n 20 "$work"/kubelet-node-*.log >&2; k8s_log "nodes did not become Ready"; exit 1; }

export TESSERA_K8S_NAMESPACE=tessera-client-test
kubectl create namespace "$TESSERA_K8S_NAMESPACE" >/dev/null
TESSERA_K8S_LIVE=1 TESSERA_K8S_NODES=2 swift test --scratch-path "$scratch" --skip-build --filter "LiveAPITests|LiveNodeTests"

# The pd topology with `provider: kubernetes`: a front end here, prefill and decode pools as Deployments.
pd_check "$work" "$PWD/${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}" "$(swift build --scratch-path "$scratch" --show-bin-path)/tessera"

# deploy/kubernetes/base, with the fixture model from a hostPath volume and the serve flags the e2e
# suite expects: the openai suite runs against the pod (on whichever node it landed) from this host.
model=${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}
mkdir -p "$work/e2e"
cat >"$work/e2e/kustomization.yaml" <<YAML
resources: ["$(realpath --relative-to "$work/e2e" deploy/kubernetes/base)"]
patches:
  - target: {kind: Deployment, name: tessera}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/args
        value: [serve, --model, /models/$(basename "$model"), --host, 0.0.0.0, --port, "8000", --max-queued-requests, "12",
                --max-num-seqs, "4", --max-body-size, "1", --kv-cache-memory, "64", --drain-timeout, "5", --read-timeout, "5"]
      - op: add
        path: /spec/template/spec/volumes
        value: [{name: models, hostPath: {path: "$PWD/$(dirname "$model")", type: Directory}}]
      - op: add
        path: /spec/template/spec/containers/0/volumeMounts
        value: [{name: models, mountPath: /models, readOnly: true}]
YAML
kubectl apply -k "$work/e2e" >/dev/null
kubectl -n tessera rollout status deployment/tessera --timeout 300s >/dev/null
read -r node address < <(kubectl -n tessera get pods -l app.kubernetes.io/name=tessera \
    -o jsonpath='{range .items[*]}{.spec.nodeName} {.status.podIP}{"\n"}{end}')
echo "openai suite against tessera in a pod on $node ($address)"
python3 -c "import openai, pytest, requests, prometheus_client" 2>/dev/null || python3 -m pip install --quiet --user -r tests/e2e/requirements.txt
TESSERA_BASE_URL="http://$address:8000" TESSERA_MODEL_DIR="$PWD/$model" TESSERA_FIXTURES="$PWD/fixtures" \
    TESSERA_BINARY="$(swift build --scratch-path "$scratch" --show-bin-path)/tessera" \
    timeout 900 python3 -m pytest -q tests/e2e -k "not sigterm"

# Scaled through /scale to one pod per node, each answering on its pod address.
ask() {
    curl -fsS --max-time 120 "http://$1:8000/v1/chat/completions" -H 'content-type: application/json' \
        -d '{"model": "'"$(basename "$model")"'", "max_tokens": 4, "messages": [{"role": "user", "content": "Hello"}]}' |
        python3 -c 'import json, sys; r = json.load(sys.stdin); assert r["choices"][0]["message"]["content"] is not None; print(r["usage"]["completion_tokens"])'
}
kubectl -n tessera scale deployment/tessera --replicas 2 >/dev/null
kubectl -n tessera rollout status deployment/tessera --timeout 300s >/dev/null
placements=$(kubectl -n tessera get pods -l app.kubernetes.io/name=tessera -o jsonpath='{range .items[*]}{.spec.nodeName} {.status.podIP}{"\n"}{end}' | sort)
echo "$placements"
[[ $(echo "$placements" | awk '{print $1}' | sort -u | wc -l) == 2 ]] || { echo "tessera pods are not on both nodes" >&2; exit 1; }
while read -r node address; do
    tokens=$(ask "$address")
    echo "tessera on $node ($address) answered with $tokens tokens"
done <<<"$placements"

# Teardown check: nothing left running or configured.
cluster_down
for pid in $(jobs -p); do kill -0 "$pid" 2>/dev/null && { echo "a cluster process survived teardown" >&2; exit 1; }; done
if pgrep -f -- "-address $work/" >/dev/null; then echo "a container shim survived teardown" >&2; exit 1; fi
for link in "$k8s_bridge" tsk8sp1 tsk8sv2; do
    if ip link show "$link" >/dev/null 2>&1; then echo "link $link survived teardown" >&2; exit 1; fi
done
if ip netns list | grep -q '^tsk8s-'; then echo "a network namespace survived teardown" >&2; exit 1; fi
if grep -q " $work/" /proc/mounts; then echo "a mount survived teardown" >&2; exit 1; fi
if pgrep -x pause >/dev/null; then echo "a pod sandbox survived teardown" >&2; exit 1; fi
for dir in "${k8s_created_dirs[@]}"; do [[ ! -e $dir ]] || { echo "$dir survived teardown" >&2; exit 1; }; done
echo "tests/k8s: passed"

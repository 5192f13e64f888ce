#!/usr/bin/env bash
# The Kubernetes suite against a real control plane: builds (or reuses) kube-apiserver,
# kube-controller-manager and kube-scheduler from Debian's source package, starts them with etcd on
# a bridge this script creates, adds two nodes (containerd + runc + kubelet; the second in a network
# namespace joined by a veth), and runs the KubernetesClient tests against it: Deployments and /scale
# driving real ReplicaSets, Pod list+watch and 410 Gone, label patches, pod deletion, Leases with
# resourceVersion preconditions and leader failover, and on the nodes drain-then-scale-down
# removing exactly the drained pod; then the pd topology through KubernetesInstanceProvider (tests/k8s/pd.sh),
# the StageAutoscaler scaling its decode pool through /scale (tests/k8s/autoscale.sh), the
# external autoscaling mode (tests/k8s/external.sh), the elastic partitioner switching a decode pod
# to prefill in place (tests/k8s/roles.sh), and a node whose kubelet stops while serving
# (tests/k8s/node.sh); then validates every kustomization under deploy/kubernetes with the API
# server, applies deploy/kubernetes/overlays/epd and overlays/groups (an image of the tessera binary
# just built, packed without a registry), serves the e2e openai completions tests through each and
# deletes it, and applies overlays/pd: the whole openai suite through its leading front end, then the
# leader killed and the other replica taking over (tests/k8s/overlay.sh). Removes everything on exit
# and checks that it did.
# Needs root; skipped with a message when not root or when Kubernetes cannot be built here.
# TESSERA_K8S_ONLY="roles node" runs only the named parts (client pd autoscale external roles node
# validate epd groups overlay) on the cluster, for working on one of them.
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
source tests/k8s/frontend.sh
source tests/k8s/pd.sh
source tests/k8s/overlay.sh
source tests/k8s/autoscale.sh
source tests/k8s/external.sh
source tests/k8s/roles.sh
source tests/k8s/node.sh
# Whether the part named $1 runs (all of them unless TESSERA_K8S_ONLY names some).
selected() { [[ -z ${TESSERA_K8S_ONLY:-} || " $TESSERA_K8S_ONLY " == *" $1 "* ]]; }
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
# Tessera itself, from the build the Swift suites ran on, or TESSERA_K8S_IMAGE_BINARY (another build
# of the same sources, e.g. one linked with --static-swift-stdlib; its resource bundle beside it).
TESSERA_IMAGE_BINARY="${TESSERA_K8S_IMAGE_BINARY:-$(swift build --scratch-path "$scratch" --show-bin-path)/tessera}" \
    scripts/build-image.sh "$k8s_images/tessera.tar" tessera:local >/dev/null
node_up 1
node_up 2
nodes_ready 2 || { tail -n 20 "$work"/kubelet-node-*.log >&2; k8s_log "nodes did not become Ready"; exit 1; }

export TESSERA_K8S_NAMESPACE=tessera-client-test
kubectl create namespace "$TESSERA_K8S_NAMESPACE" >/dev/null
if selected client; then TESSERA_K8S_LIVE=1 TESSERA_K8S_NODES=2 swift test --scratch-path "$scratch" --skip-build --filter "LiveAPITests|LiveNodeTests"; fi

# The pd topology with `provider: kubernetes`: a front end here, prefill and decode pools as Deployments.
if selected pd; then pd_check "$work" "$PWD/${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}" "$(swift build --scratch-path "$scratch" --show-bin-path)/tessera"; fi

# The `tessera` autoscaling mode: the StageAutoscaler adds a decode pod under load through /scale and removes it when idle.
if selected autoscale; then autoscale_check "$work" "$PWD/${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}" "$(swift build --scratch-path "$scratch" --show-bin-path)/tessera"; fi

# The `external` mode: the pools' /scale is the scaler's (here kubectl); the front end exports desired_replicas and follows.
if selected external; then external_check "$work" "$PWD/${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}" "$(swift build --scratch-path "$scratch" --show-bin-path)/tessera"; fi

# A role switch on pods: the elastic partitioner moves a decode worker to prefill; its pod is relabelled in place.
if selected roles; then roles_check "$work" "$PWD/${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}" "$(swift build --scratch-path "$scratch" --show-bin-path)/tessera"; fi

# A node lost while serving: its kubelet stopped, its decode pod evicted, drained and replaced on the other node.
if selected node; then node_check "$work" "$PWD/${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}" "$(swift build --scratch-path "$scratch" --show-bin-path)/tessera"; fi

# Every kustomization under deploy/kubernetes, as the API server validates it (a dry run creates
# no namespace: the one they name is created first, as docs/kubernetes.md says).
kubectl create namespace tessera --save-config >/dev/null
for kustomization in $(selected validate && echo deploy/kubernetes/standalone deploy/kubernetes/overlays/*); do
    kubectl apply -k "$kustomization" --dry-run=server >/dev/null || { echo "$kustomization does not apply" >&2; exit 1; }
done
if selected validate; then echo "deploy/kubernetes: standalone and overlays $(ls deploy/kubernetes/overlays | tr '\n' ' ')pass the API server's validation"; fi

# deploy/kubernetes/overlays/epd and overlays/groups applied, serving the openai completions tests, deleted.
for overlay in epd groups; do
    if selected "$overlay"; then
        overlay_serve_check "$overlay" "$work" "$PWD/${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}" \
            "$(swift build --scratch-path "$scratch" --show-bin-path)/tessera" tests/e2e/test_completions.py
    fi
done

# deploy/kubernetes/overlays/pd applied: two front ends, one leading; the openai suite through it; the leader killed.
if selected overlay; then overlay_check "$work" "$PWD/${TESSERA_E2E_MODEL:-fixtures/models/llama-gqa}" "$(swift build --scratch-path "$scratch" --show-bin-path)/tessera"; fi

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

#!/usr/bin/env bash
# The Kubernetes suite against a real control plane: builds (or reuses) kube-apiserver,
# kube-controller-manager and kube-scheduler from Debian's source package, starts them with etcd on
# a bridge this script creates, and runs the KubernetesClient tests against it (Deployments and
# /scale driving real ReplicaSets, Pod list+watch and 410 Gone, label patches, pod deletion,
# Leases with resourceVersion preconditions and leader failover). Removes everything on exit.
# Needs root; skipped with a message when not root or when Kubernetes cannot be built here.
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch="${TESSERA_SCRATCH:-.build}"

if [[ $(id -u) != 0 ]]; then echo "tests/k8s: SKIPPED (needs root to run a Kubernetes control plane)"; exit 0; fi
if ! bin=$(tests/k8s/build-kubernetes.sh | tail -n1) || [[ ! -x $bin/kube-apiserver ]]; then
    echo "tests/k8s: SKIPPED (Kubernetes could not be built from Debian's source package on this machine)"
    exit 0
fi
command -v etcd >/dev/null || { apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends etcd-server >/dev/null; }

source tests/k8s/cluster.sh
work=$(mktemp -d)
cleanup() {
    cluster_down
    if [[ ${TESSERA_K8S_KEEP_LOGS:-} == 1 ]]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
cluster_up "$work" "$bin"

export TESSERA_K8S_NAMESPACE=tessera-client-test
kubectl create namespace "$TESSERA_K8S_NAMESPACE" >/dev/null
TESSERA_K8S_LIVE=1 swift test --scratch-path "$scratch" --skip-build --filter LiveAPITests

# Teardown check: nothing left running or configured.
cluster_down
for pid in $(jobs -p); do kill -0 "$pid" 2>/dev/null && { echo "a cluster process survived teardown" >&2; exit 1; }; done
if ip link show "$k8s_bridge" >/dev/null 2>&1; then echo "bridge $k8s_bridge survived teardown" >&2; exit 1; fi
echo "tests/k8s: passed"

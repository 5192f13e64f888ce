# A real Kubernetes control plane on this machine, for tests: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler built from Debian's source package
# (tests/k8s/build-kubernetes.sh). Sourced by tests/k8s/run.sh; needs root.
#
#   source tests/k8s/cluster.sh
#   cluster_up "$work"      # exports KUBECONFIG (bearer token) and TESSERA_K8S_KUBECONFIG_CERT (client certificate)
#   ...
#   cluster_down            # stops every process it started and removes the bridge
#
# Everything binds to loopback or to the address of a bridge the test creates (10.79.0.1/24).
# A lost node is found quickly: kubelets renew their node lease every 2 s, a node silent for 24 s is
# unreachable, and pods tolerate an unreachable or not-ready node for 5 s before they are evicted
# (300 s by default), so tests/k8s/node.sh sees a node's pods replaced within a minute.

k8s_bridge=${TESSERA_K8S_BRIDGE:-tsk8s0}
k8s_address=10.79.0.1
k8s_pids=() k8s_names=() k8s_nodes=() k8s_netns=()
# Host folders the kubelet, containerd and CNI plugins use whatever they are configured with; the
# ones this cluster creates are removed with it.
k8s_host_dirs=(/var/lib/kubelet /var/log/pods /var/log/containers /var/lib/cni /run/containerd)
k8s_created_dirs=()

k8s_log() { echo "k8s: $*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits up to $1 seconds for the command that follows to succeed.
wait_for() {
    local seconds=$1; shift
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# start NAME COMMAND...: runs a component in the background, its log in $k8s_work/NAME.log.
k8s_start() {
    local name=$1; shift
    "$@" >"$k8s_work/$name.log" 2>&1 &
    k8s_pids+=($!) k8s_names+=("$name")
}

k8s_certificates() {
    local d=$k8s_work/pki
    mkdir -p "$d"
    openssl req -x509 -new -nodes -newkey rsa:2048 -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 \
        -subj /CN=tessera-test-ca 2>/dev/null
    cat >"$d/serving.ext" <<EOF
subjectAltName=IP:$k8s_address,IP:127.0.0.1,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost
extendedKeyUsage=serverAuth
EOF
    openssl req -new -nodes -newkey rsa:2048 -keyout "$d/apiserver.key" -out "$d/apiserver.csr" -subj /CN=kube-apiserver 2>/dev/null
    openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
        -extfile "$d/serving.ext" -out "$d/apiserver.crt" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
    openssl req -new -nodes -newkey rsa:2048 -keyout "$d/admin.key" -out "$d/admin.csr" \
        -subj "/O=system:masters/CN=tessera-admin" 2>/dev/null
    openssl x509 -req -in "$d/admin.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
        -extfile "$d/client.ext" -out "$d/admin.crt" 2>/dev/null
    openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
    openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
    k8s_token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    echo "$k8s_token,tessera-admin,tessera-admin,system:masters" >"$d/tokens.csv"
}

# kubeconfig FILE AUTH...: AUTH is `token` or `cert`.
k8s_kubeconfig() {
    local file=$1 auth=$2 d=$k8s_work/pki user
    if [[ $auth == token ]]; then
        user="    token: $k8s_token"
    else
        user="    client-certificate-data: $(base64 -w0 "$d/admin.crt")
    client-key-data: $(base64 -w0 "$d/admin.key")"
    fi
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://$k8s_address:$k8s_api_port
    certificate-authority-data: $(base64 -w0 "$d/ca.crt")
users:
- name: admin
  user:
$user
contexts:
- name: test
  context: {cluster: test, user: admin, namespace: default}
current-context: test
EOF
}

cluster_up() {
    k8s_work=$1
    k8s_bin=$2
    mkdir -p "$k8s_work"
    local dir
    for dir in "${k8s_host_dirs[@]}"; do [[ -e $dir ]] || k8s_created_dirs+=("$dir"); done
    ip link add "$k8s_bridge" type bridge
    ip addr add "$k8s_address/24" dev "$k8s_bridge"
    ip link set "$k8s_bridge" up
    k8s_certificates
    local etcd_port peer_port
    etcd_port=$(free_port) peer_port=$(free_port) k8s_api_port=$(free_port)
    k8s_start etcd etcd --name test --data-dir "$k8s_work/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "test=http://127.0.0.1:$peer_port"
    wait_for 30 curl -fsS "http://127.0.0.1:$etcd_port/health" || { k8s_log "etcd did not start"; return 1; }
    # Some history before the API server starts, as any cluster has: its watch cache then begins
    # above revision 1, and a watch from version 1 is answered 410 Gone as on a long-running cluster.
    local key
    for key in $(seq 1 20); do
        curl -fsS -X POST "http://127.0.0.1:$etcd_port/v3/kv/put" \
            -d "{\"key\": \"$(printf '/tessera-test/%s' "$key" | base64 -w0)\", \"value\": \"MQ==\"}" >/dev/null
    done
    local d=$k8s_work/pki
    k8s_start kube-apiserver "$k8s_bin/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address "$k8s_address" --advertise-address "$k8s_address" \
        --secure-port "$k8s_api_port" --insecure-port 0 \
        --tls-cert-file "$d/apiserver.crt" --tls-private-key-file "$d/apiserver.key" --client-ca-file "$d/ca.crt" \
        --token-auth-file "$d/tokens.csv" --authorization-mode Node,RBAC \
        --service-account-key-file "$d/sa.pub" --service-account-signing-key-file "$d/sa.key" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range 10.96.0.0/24 --endpoint-reconciler-type none \
        --kubelet-preferred-address-types InternalIP --allow-privileged=true --profiling=false \
        --default-not-ready-toleration-seconds 5 --default-unreachable-toleration-seconds 5
    k8s_kubeconfig "$k8s_work/admin.kubeconfig" token
    k8s_kubeconfig "$k8s_work/admin-cert.kubeconfig" cert
    export KUBECONFIG=$k8s_work/admin.kubeconfig TESSERA_K8S_KUBECONFIG_CERT=$k8s_work/admin-cert.kubeconfig
    if ! wait_for 90 kubectl get --raw /readyz; then
        tail -n 30 "$k8s_work/kube-apiserver.log" >&2
        k8s_log "kube-apiserver did not become ready"
        return 1
    fi
    k8s_start kube-controller-manager "$k8s_bin/kube-controller-manager" --kubeconfig "$KUBECONFIG" \
        --bind-address 127.0.0.1 --secure-port "$(free_port)" --port 0 --leader-elect=false \
        --service-account-private-key-file "$d/sa.key" --root-ca-file "$d/ca.crt" --profiling=false \
        --node-monitor-period 2s --node-monitor-grace-period 24s
    k8s_start kube-scheduler "$k8s_bin/kube-scheduler" --kubeconfig "$KUBECONFIG" \
        --bind-address 127.0.0.1 --secure-port "$(free_port)" --port 0 --leader-elect=false --profiling=false
    # The token controller has run once the default namespace's service account exists.
    wait_for 60 kubectl get serviceaccount default -n default || { k8s_log "controller-manager did not start"; return 1; }
    k8s_log "control plane up at https://$k8s_address:$k8s_api_port"
}

cluster_down() {
    local i pid dir task
    # Pods first, through Kubernetes, so each kubelet stops its sandboxes and their network namespaces.
    if ((${#k8s_nodes[@]})) && kubectl get --raw /readyz >/dev/null 2>&1; then
        kubectl delete deployments,pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
        wait_for 30 bash -c '[[ -z $(kubectl get pods --all-namespaces --no-headers 2>/dev/null) ]]' || true
    fi
    for ((i = ${#k8s_pids[@]} - 1; i >= 0; i--)); do
        [[ ${k8s_names[i]} == kubelet-* ]] && kill "${k8s_pids[i]}" 2>/dev/null || true
    done
    # Whatever containers are left, killed by their own containerd.
    for dir in "${k8s_nodes[@]}"; do
        for task in $(ctr --address "$dir/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$dir/containerd.sock" -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
        done
    done
    for ((i = ${#k8s_pids[@]} - 1; i >= 0; i--)); do kill "${k8s_pids[i]}" 2>/dev/null || true; done
    for pid in "${k8s_pids[@]}"; do
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    k8s_pids=() k8s_names=() k8s_nodes=()
    # The container shims of this cluster's containerds (they outlive it by design).
    for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $k8s_work/" || true); do kill -9 "$pid" 2>/dev/null || true; done
    local netns index
    for netns in "${k8s_netns[@]}"; do
        ip netns pids "$netns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$netns" 2>/dev/null || true
        index=${netns#tsk8s-n}
        ip route del "10.80.$index.0/24" 2>/dev/null || true
    done
    k8s_netns=()
    # Mounts the kubelet and containerd left (pod volumes, sandbox network namespaces, rootfs).
    grep -o " $k8s_work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    ip link del tsk8sp1 2>/dev/null || true
    ip link del "$k8s_bridge" 2>/dev/null || true
    for dir in "${k8s_created_dirs[@]}"; do rm -rf "$dir"; done
}

# node_up INDEX: a node named node-INDEX with its own containerd and kubelet. Node 1 runs in this
# network namespace on the control plane's bridge address; node N > 1 in a network namespace
# joined to the bridge by a veth (10.79.0.N). Pods get 10.80.INDEX.0/24 on a CNI bridge of the node.
# Images: every docker-archive in $k8s_images is imported; the sandbox image is $k8s_pause_image.
node_up() {
    local index=$1 name=node-$1 dir=$k8s_work/node-$1 netns="" run=() ip=$k8s_address
    mkdir -p "$dir/cni"
    k8s_nodes+=("$dir")
    if ((index > 1)); then
        netns=tsk8s-n$index ip=10.79.0.$index
        ip netns add "$netns"
        ip -n "$netns" link set lo up
        ip link add "tsk8sv$index" type veth peer name eth0 netns "$netns"
        ip link set "tsk8sv$index" master "$k8s_bridge" up
        ip -n "$netns" addr add "$ip/24" dev eth0
        ip -n "$netns" link set eth0 up
        ip -n "$netns" route add default via "$k8s_address"
        ip route add "10.80.$index.0/24" via "$ip"
        k8s_netns+=("$netns")
        # `ip netns exec` would remount /sys, and the kubelet would then find no cpu cgroup.
        run=(nsenter "--net=/run/netns/$netns")
    fi
    cat >"$dir/cni/10-pods.conflist" <<CNI
{"cniVersion": "0.4.0", "name": "pods", "plugins": [
  {"type": "bridge", "bridge": "tsk8sp$index", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.80.$index.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$dir/ipam"}},
  {"type": "loopback"}]}
CNI
    cat >"$dir/containerd.toml" <<TOML
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$k8s_pause_image"
  # No CAP_SYS_RESOURCE here: without this every sandbox fails ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  # Pod network namespaces under the state folder rather than /var/run/netns, so they go with it.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni"
TOML
    k8s_start "containerd-$name" "${run[@]}" containerd --config "$dir/containerd.toml"
    wait_for 30 ctr --address "$dir/containerd.sock" version || { k8s_log "containerd of $name did not start"; return 1; }
    local image
    for image in "$k8s_images"/*.tar; do
        ctr --address "$dir/containerd.sock" -n k8s.io images import --no-unpack "$image" >/dev/null
    done
    cat >"$dir/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: 10250
readOnlyPort: 0
healthzPort: 0
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
podPidsLimit: -1
registerNode: true
fileCheckFrequency: 1s
syncFrequency: 2s
nodeStatusUpdateFrequency: 2s
nodeLeaseDurationSeconds: 8
YAML
    k8s_start "kubelet-$name" "${run[@]}" "$k8s_bin/kubelet" --config "$dir/kubelet.yaml" --kubeconfig "$KUBECONFIG" \
        --container-runtime remote --container-runtime-endpoint "unix://$dir/containerd.sock" \
        --hostname-override "$name" --node-ip "$ip" --root-dir "$dir/kubelet" --cert-dir "$dir/pki" --v 1
}

# Waits until every started node is Ready.
nodes_ready() {
    local count=$1
    wait_for 120 bash -c "[[ \$(kubectl get nodes --no-headers 2>/dev/null | awk '\$2 == \"Ready\"' | wc -l) == $count ]]"
}

# Sourced by tests/k8s/run.sh: a front end on this host whose prefill and decode workers run as
# pods (`provider: kubernetes`), and load clients for it.
#
#   frontend_start NAME NAMESPACE MODEL BINARY [SETTINGS [TOPOLOGY_LINES [DECODE_COUNT [SERVE_ARGUMENTS]]]]
# creates NAMESPACE with the workers' peer secret, writes $k8s_work/NAME.yaml (the pd topology, one
# prefill and DECODE_COUNT (1) decode workers; SETTINGS adds to its `kubernetes:` map, e.g.
# ", autoscaling: external"; TOPOLOGY_LINES to the file; SERVE_ARGUMENTS to the `tessera serve` command) and
# starts `tessera serve` on it, its log in $k8s_work/NAME-frontend.log; sets frontend_port and frontend_pid.
frontend_start() {
    local name=$1 namespace=$2 model=$3 binary=$4 settings=${5:-} lines=${6:-} decode=${7:-1} serve_arguments=${8:-} secret control_port
    frontend_port=$(free_port) control_port=$(free_port)
    kubectl create namespace "$namespace" >/dev/null
    # The workers' peer secret: a Secret for the pods, the same value in the front end's environment.
    secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    kubectl -n "$namespace" create secret generic tessera-worker-secret --from-literal "secret=$secret" >/dev/null
    cat >"$k8s_work/$name.yaml" <<YAML
provider: kubernetes
kubernetes: {namespace: $namespace, image: "tessera:local", image_pull_policy: Never, model_host_path: "$model"$settings}
transfer: tcp
control: "tcp:$k8s_address:$control_port"
heartbeat_timeout_ms: 10000
$lines
groups:
  - group: text
    workers:
      - {role: prefill, count: 1}
      - {role: decode, count: $decode}
YAML
    TESSERA_WORKER_SECRET=$secret k8s_start "$name-frontend" "$binary" serve --topology "$k8s_work/$name.yaml" --model "$model" \
        --host 127.0.0.1 --port "$frontend_port" --kv-cache-memory 64 --max-num-seqs 4 $serve_arguments
    frontend_pid=${k8s_pids[-1]}
}

# frontend_registered NAME NAMESPACE: waits (up to 240 s) until the front end started as NAME is
# healthy, its workers registered; otherwise prints its log's tail and the pods, and fails.
frontend_registered() {
    wait_for 240 curl -fsS -o /dev/null "http://127.0.0.1:$frontend_port/health" && return 0
    tail -n 30 "$k8s_work/$1-frontend.log" >&2
    kubectl -n "$2" get pods -o wide >&2 || true
    echo "$1: the front end's workers did not register" >&2
    return 1
}

# chat PORT MODEL [MAX_TOKENS]: one greedy chat completion; prints its text, fails without tokens.
# The pods of POOL in NAMESPACE that are not being deleted, as "NAME NODE" lines; with `ready`,
# only those the kubelet reports Ready (the worker registered and serves KV).
#   pool_pods NAMESPACE POOL [ready]
pool_pods() {
    kubectl -n "$1" get pods -l "tessera.ai/pool=$2" -o json | python3 -c '
import json, sys
ready_only = sys.argv[1] == "ready"
for pod in json.load(sys.stdin)["items"]:
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
    if (ready or not ready_only) and not pod["metadata"].get("deletionTimestamp"): print(pod["metadata"]["name"], pod["spec"].get("nodeName", ""))' "${3:-any}"
}

chat() {
    curl -fsS --max-time 120 "http://127.0.0.1:$1/v1/chat/completions" -H 'content-type: application/json' \
        -d '{"model": "'"$(basename "$2")"'", "max_tokens": '"${3:-8}"', "temperature": 0, "messages": [{"role": "user", "content": "Hello there"}]}' |
        python3 -c 'import json, sys; r = json.load(sys.stdin); assert r["usage"]["completion_tokens"] > 0; print(r["choices"][0]["message"]["content"])'
}

# pool_metric PORT NAME ROLE: the front end's tessera:NAME gauge for the pool tessera-text-ROLE.
pool_metric() {
    curl -fsS "http://127.0.0.1:$1/metrics" | awk -v name="tessera:$2" -v pool="tessera-text-$3" \
        'index($0, name "{") == 1 && index($0, "pool=\"" pool "\"") {print int($2)}'
}

# load_start PORT MODEL DIR: two clients asking one chat completion after another until
# `load_stop DIR`; a failed request is noted in DIR/failures, every request in DIR/requests.
load_start() {
    local port=$1 model=$2 dir=$3 client
    mkdir -p "$dir" && : >"$dir/failures" && : >"$dir/requests" && rm -f "$dir/stop"
    load_pids=()
    for client in 1 2; do
        (
            while [[ ! -e $dir/stop ]]; do
                chat "$port" "$model" >/dev/null 2>&1 || echo "client $client: a request failed" >>"$dir/failures"
                echo >>"$dir/requests"
            done
        ) &
        load_pids+=($!)
    done
}
load_stop() { touch "$1/stop"; wait "${load_pids[@]}"; }

# Sourced by tests/k8s/run.sh once the nodes are Ready and the tessera image is loaded:
#   pd_check WORK MODEL_DIR TESSERA_BINARY
# A front end on this host with `provider: kubernetes` and the pd topology: it creates
# tessera-text-prefill and tessera-text-decode in a namespace of its own, scales each to one through
# /scale, and the pods' workers register without a slot (pod name and address from the downward
# API) and are bound to the pending slots. Checks that both pods registered, on different nodes, that
# a chat completion is served with its prompt KV pulled from the prefill pod by the decode pod, that a
# decode pod deleted with grace 0 is replaced and the replacement serves, and that the pools' replica
# counts are exactly what the front end started, and that stopping the front end leaves no worker pod.
pd_check() {
    local work=$1 model=$2 binary=$3 namespace=tessera-pd port pid
    frontend_start pd "$namespace" "$model" "$binary"
    port=$frontend_port pid=$frontend_pid
    frontend_registered pd "$namespace" || return 1
    # Pods of a pool that are not being deleted, ready or not (the kubelet may report the Running
    # phase after the worker has already registered), as "NAME NODE" lines.
    pd_pods() { pool_pods "$namespace" "$1"; }
    local prefill decode
    prefill=$(pd_pods prefill) decode=$(pd_pods decode)
    echo "pd: prefill pod: $prefill; decode pod: $decode"
    [[ $prefill =~ ^[^\ ]+\ node-[0-9]+$ && $decode =~ ^[^\ ]+\ node-[0-9]+$ ]] || { echo "pd: expected one scheduled pod per pool" >&2; return 1; }
    [[ ${prefill#* } != "${decode#* }" ]] || { echo "pd: prefill and decode pods share node ${prefill#* }" >&2; return 1; }
    pd_ask() { chat "$port" "$model"; }
    pd_transferred() {
        curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^tessera:kv_transfer_bytes_total/ {print int($2)}'
    }
    local first second bytes
    first=$(pd_ask)
    # Workers report their transfer counters with their heartbeats.
    local deadline=$((SECONDS + 10))
    until bytes=$(pd_transferred); ((${bytes:-0} > 0 || SECONDS > deadline)); do sleep 0.5; done
    echo "pd: answered through pods on two nodes, ${bytes:-0} KV bytes pulled across nodes"
    ((${bytes:-0} > 0)) || { echo "pd: no prompt KV moved from the prefill pod to the decode pod" >&2; return 1; }
    # A deleted decode pod: the connection drops, the front end stops the instance (grace-0 delete,
    # /scale -1) and starts another (/scale +1); the ReplicaSet's new pod registers and is bound.
    kubectl -n "$namespace" delete pod "${decode%% *}" --grace-period 0 --force >/dev/null 2>&1
    if ! wait_for 120 bash -c "[[ \$(kubectl -n $namespace get pods -l tessera.ai/pool=decode --field-selector status.phase=Running -o name | grep -v '${decode%% *}' | wc -l) == 1 ]]"; then
        echo "pd: the deleted decode pod was not replaced" >&2; return 1
    fi
    # Answered once the replacement has registered and been bound.
    deadline=$((SECONDS + 120))
    until second=$(pd_ask 2>/dev/null); do
        ((SECONDS < deadline)) || { tail -n 30 "$k8s_work/pd-frontend.log" >&2; echo "pd: no answer after the decode pod was replaced" >&2; return 1; }
        sleep 2
    done
    [[ $first == "$second" ]] || { echo "pd: the replacement decode pod answered '$second', not '$first'" >&2; return 1; }
    echo "pd: decode pod ${decode%% *} deleted, replaced by $(pd_pods decode | cut -d' ' -f1), same answer"
    local replicas
    replicas=$(kubectl -n "$namespace" get deployments -o jsonpath='{range .items[*]}{.metadata.name}={.spec.replicas} {end}')
    echo "pd: deployments: $replicas"
    [[ $replicas == "tessera-text-decode=1 tessera-text-prefill=1 " ]] || { echo "pd: unexpected replica counts" >&2; return 1; }
    # Stopping the front end stops its workers: every pod deleted, every pool back to 0.
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    if ! wait_for 60 bash -c "[[ -z \$(kubectl -n $namespace get pods -l app.kubernetes.io/component=worker -o name) ]]"; then
        kubectl -n "$namespace" get pods >&2; echo "pd: worker pods outlived the front end" >&2; return 1
    fi
    replicas=$(kubectl -n "$namespace" get deployments -o jsonpath='{range .items[*]}{.metadata.name}={.spec.replicas} {end}')
    [[ $replicas == "tessera-text-decode=0 tessera-text-prefill=0 " ]] || { echo "pd: after the front end stopped: $replicas" >&2; return 1; }
    echo "pd: front end stopped; pools scaled to 0, no worker pod left"
}

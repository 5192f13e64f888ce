# Sourced by tests/k8s/run.sh once the nodes are Ready and the tessera image is loaded:
#   node_check WORK MODEL_DIR TESSERA_BINARY
# A node lost while serving: the pd topology's front end on this host, load running, then the
# kubelet of the decode pod's node stopped (SIGSTOP: its containers keep running, the node stops
# answering). The node controller marks the node unreachable and taints it; the taint manager
# evicts its pods (this cluster's default toleration is 5 s, cluster.sh); the front end sees its
# decode pod terminating, drains the worker (no new requests; it exits when its connection closes),
# and starts a replacement through /scale, which the scheduler places on the other node. Checks that
# every request of the load is answered, or fails with an HTTP error that says why (never a dropped
# connection or a 500); that the replacement registers on the healthy node and serves the same
# tokens; that no worker on the stopped node is bound any more; then resumes the kubelet and waits
# for the node to be Ready again for the tests that follow.
node_check() {
    local work=$1 model=$2 binary=$3 namespace=tessera-node port pid
    frontend_start node "$namespace" "$model" "$binary"
    port=$frontend_port pid=$frontend_pid
    frontend_registered node "$namespace" || return 1
    # Ready pods of a pool that are not being deleted, as "NAME NODE" lines.
    node_pods() { pool_pods "$namespace" "$1" ready; }
    local decode stopped first deadline=$((SECONDS + 30))
    # The kubelet's probe sees the registered worker's KV port within its period.
    until decode=$(node_pods decode); [[ -n $decode ]] || ((SECONDS > deadline)); do sleep 0.5; done
    stopped=${decode#* }
    [[ $decode =~ ^[^\ ]+\ node-[0-9]+$ ]] || { echo "node: expected one ready decode pod, got '$decode'" >&2; return 1; }
    first=$(chat "$port" "$model")
    local kubelet="" i
    for i in "${!k8s_names[@]}"; do [[ ${k8s_names[i]} == "kubelet-$stopped" ]] && kubelet=${k8s_pids[i]}; done
    [[ -n $kubelet ]] || { echo "node: no kubelet process for $stopped" >&2; return 1; }

    # Load: two clients, each request's HTTP status and error message noted.
    local load=$work/node-load
    mkdir -p "$load" && : >"$load/results" && rm -f "$load/stop"
    local clients=() client
    for client in 1 2; do
        (
            while [[ ! -e $load/stop ]]; do
                code=$(curl -sS --max-time 120 -o "$load/body-$client" -w '%{http_code}' "http://127.0.0.1:$port/v1/chat/completions" \
                    -H 'content-type: application/json' \
                    -d '{"model": "'"$(basename "$model")"'", "max_tokens": 8, "temperature": 0, "messages": [{"role": "user", "content": "Hello there"}]}' 2>&1) || code="curl:$code"
                echo "$code $(python3 -c 'import json, sys
try: print(json.load(open(sys.argv[1])).get("error", {}).get("message", "").replace("\n", " ")[:160])
except Exception: print("(no JSON body)")' "$load/body-$client")" >>"$load/results"
            done
        ) &
        clients+=($!)
    done
    sleep 2
    local start=$SECONDS
    kill -STOP "$kubelet"
    echo "node: kubelet of $stopped stopped; its decode pod ${decode%% *} keeps running"
    local outcome=0
    if ! wait_for 120 bash -c "kubectl get node $stopped -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qvx True"; then
        echo "node: $stopped was not marked unready" >&2; outcome=1
    else
        echo "node: $stopped unready after $((SECONDS - start)) s"
    fi
    # The replacement: a ready decode pod on another node, the worker bound to the front end.
    local replaced=""
    if ((outcome == 0)) && wait_for 180 bash -c "kubectl -n $namespace get pods -l tessera.ai/pool=decode -o json | python3 -c '
import json, sys
ok = [p for p in json.load(sys.stdin)[\"items\"] if p[\"spec\"].get(\"nodeName\") not in (None, \"$stopped\") and not p[\"metadata\"].get(\"deletionTimestamp\")
      and any(c[\"type\"] == \"Ready\" and c[\"status\"] == \"True\" for c in p[\"status\"].get(\"conditions\", []))]
sys.exit(0 if ok else 1)'"; then
        replaced=$(node_pods decode | grep -v " $stopped\$" || true)
        echo "node: decode worker replaced by $replaced $((SECONDS - start)) s after the kubelet stopped"
    else
        kubectl -n "$namespace" get pods -o wide >&2; tail -n 30 "$k8s_work/node-frontend.log" >&2
        echo "node: no decode pod replaced the one on the stopped node" >&2; outcome=1
    fi
    # Served by the replacement: a few more requests under load, then stop the clients.
    sleep 3
    touch "$load/stop"
    wait "${clients[@]}"
    kill -CONT "$kubelet"
    ((outcome == 0)) || return 1
    local total ok
    total=$(wc -l <"$load/results") ok=$(grep -c '^200 ' "$load/results" || true)
    echo "node: $total requests under load: $ok answered; the others: $(grep -v '^200 ' "$load/results" | sort | uniq -c | tr '\n' ';')"
    # A clear failure: a 4xx or a 503 with an error message (a 500 would be a bug, a dropped connection a lost request).
    if grep -v '^200 ' "$load/results" | grep -qvE '^(4[0-9]{2}|503) [^(]'; then
        echo "node: a request failed without a clear error" >&2; return 1
    fi
    ((ok > 0)) || { echo "node: nothing was answered" >&2; return 1; }
    # The front end holds exactly one decode worker, and it is the replacement on the healthy node.
    [[ $(pool_metric "$port" pool_workers decode) == 1 ]] ||
        { echo "node: the front end does not hold exactly one decode worker" >&2; return 1; }
    # The evicted pod was let go: deleted from the API, not left terminating on the unreachable node.
    ! kubectl -n "$namespace" get pod "${decode%% *}" >/dev/null 2>&1 ||
        { echo "node: the decode pod on $stopped was not let go" >&2; return 1; }
    local second; second=$(chat "$port" "$model")
    [[ $first == "$second" ]] || { echo "node: the replacement answered '$second', not '$first'" >&2; return 1; }
    echo "node: the replacement on ${replaced#* } answers the same tokens; nothing is bound on $stopped"
    # The node back for the tests that follow.
    nodes_ready 2 || { echo "node: $stopped did not come back after its kubelet resumed" >&2; return 1; }
    echo "node: $stopped Ready again $((SECONDS - start)) s after its kubelet stopped"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    wait_for 60 bash -c "[[ -z \$(kubectl -n $namespace get pods -l app.kubernetes.io/component=worker -o name) ]]" ||
        { kubectl -n "$namespace" get pods -o wide >&2; echo "node: worker pods outlived the front end" >&2; return 1; }
}

# Sourced by tests/k8s/run.sh once the nodes are Ready and the tessera image is loaded:
#   roles_check WORK MODEL_DIR TESSERA_BINARY
# A role switch on the cluster: the pd topology with one prefill and two decode workers as pods and
# ElasticMM's elastic partitioner planning every second, with any prefill backlog counting as a
# burst. Under load the planner moves an idle decode worker to prefill: the worker drains, serves
# prefill on the model it has loaded, and the front end relabels its pod. Checks that a pod of the
# tessera-text-decode Deployment turns `tessera.ai/role=prefill` in place (same pod, same uid, no
# container restart; the Deployments' counts unchanged), that the front end now counts two prefill
# workers and one decode worker, that the last decode worker is not moved, and that every request
# of the load succeeded.
roles_check() {
    local work=$1 model=$2 binary=$3 namespace=tessera-roles port pid
    frontend_start roles "$namespace" "$model" "$binary" "" \
        "planners: [{name: elastic-partition, interval: 1, backlogSeconds: 0.000001}]" 2
    port=$frontend_port pid=$frontend_pid
    frontend_registered roles "$namespace" || return 1
    # "NAME UID ROLE RESTARTS" for each pod of a pool not being deleted.
    roles_pods() {
        kubectl -n "$namespace" get pods -l "tessera.ai/pool=$1" -o json | python3 -c '
import json, sys
for pod in json.load(sys.stdin)["items"]:
    if pod["metadata"].get("deletionTimestamp"): continue
    restarts = sum(c.get("restartCount", 0) for c in pod["status"].get("containerStatuses", []))
    print(pod["metadata"]["name"], pod["metadata"]["uid"], pod["metadata"]["labels"].get("tessera.ai/role"), restarts)' | sort
    }
    local before; before=$(roles_pods decode)
    [[ $(echo "$before" | awk '$3 == "decode"' | wc -l) == 2 ]] || { echo "roles: expected two decode pods at start, got: $before" >&2; return 1; }
    local start=$SECONDS
    load_start "$port" "$model" "$work/roles-load"
    local switched=0
    wait_for 120 bash -c "[[ -n \$(kubectl -n $namespace get pods -l tessera.ai/pool=decode,tessera.ai/role=prefill -o name) ]]" && switched=1
    # Serving goes on after the switch.
    sleep 3
    load_stop "$work/roles-load"
    local after; after=$(roles_pods decode)
    echo "roles: decode pool before: $(echo $before); after $((SECONDS - start)) s of load: $(echo $after)"
    ((switched)) || { tail -n 30 "$k8s_work/roles-frontend.log" >&2; echo "roles: no decode pod was relabelled prefill" >&2; return 1; }
    local moved; moved=$(echo "$after" | awk '$3 == "prefill"')
    # Same pod, same uid, no restart: the label changed in place.
    [[ $(echo "$moved" | wc -l) == 1 && $(echo "$moved" | awk '{print $4}') == 0 ]] &&
        echo "$before" | grep -q "^$(echo "$moved" | awk '{print $1, $2}') decode " ||
        { echo "roles: the switched pod was not the same pod, or it restarted: $moved" >&2; return 1; }
    [[ $(echo "$after" | awk '$3 == "decode"' | wc -l) == 1 ]] || { echo "roles: the last decode worker was moved too" >&2; return 1; }
    local replicas
    replicas=$(kubectl -n "$namespace" get deployments -o jsonpath='{range .items[*]}{.metadata.name}={.spec.replicas} {end}')
    [[ $replicas == "tessera-text-decode=2 tessera-text-prefill=1 " ]] || { echo "roles: the pools' counts changed: $replicas" >&2; return 1; }
    [[ $(pool_metric "$port" pool_workers prefill) == 2 && $(pool_metric "$port" pool_workers decode) == 1 ]] ||
        { echo "roles: the front end counts $(pool_metric "$port" pool_workers prefill) prefill and $(pool_metric "$port" pool_workers decode) decode workers" >&2; return 1; }
    echo "roles: pod $(echo "$moved" | cut -d' ' -f1) of tessera-text-decode now serves prefill in place; the front end has 2 prefill and 1 decode workers"
    if [[ -s $work/roles-load/failures ]]; then cat "$work/roles-load/failures" >&2; echo "roles: requests were lost" >&2; return 1; fi
    chat "$port" "$model" 4 >/dev/null || { echo "roles: no answer after the switch" >&2; return 1; }
    echo "roles: $(wc -l <"$work/roles-load/requests") requests under load, none failed; served after the switch"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

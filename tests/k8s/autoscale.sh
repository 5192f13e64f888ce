# Sourced by tests/k8s/run.sh once the nodes are Ready and the tessera image is loaded:
#   autoscale_check WORK MODEL_DIR TESSERA_BINARY
# The `tessera` autoscaling mode: a front end on this host runs the pd topology with ModServe's
# StageAutoscaler, which writes the pools' /scale through KubernetesInstanceProvider. A TTFT
# objective no request can meet makes every planning round see SLO attainment below target, so
# under load the autoscaler adds an instance of the bottleneck stage (decode): the decode pool's
# /scale goes to 2 and the new pod registers and becomes ready. With the load stopped, the next full
# evaluation finds one decode worker enough and retires one: it drains, and exactly its pod goes
# (no other pod of the pool is replaced, none is added), the pool back at 1; the decode pod left
# answers. Every request of the load must succeed.
autoscale_check() {
    local work=$1 model=$2 binary=$3 namespace=tessera-scale port pid
    frontend_start autoscale "$namespace" "$model" "$binary" "" "planners: [{name: stage-autoscaler, interval: 1, evaluationPeriod: 45, maximumInstances: 3}]" 1 "--slo-class unmeetable=0.000001:10"
    port=$frontend_port pid=$frontend_pid
    frontend_registered autoscale "$namespace" || return 1
    autoscale_replicas() { kubectl -n "$namespace" get deployment "tessera-text-$1" -o jsonpath='{.spec.replicas}'; }
    # Ready decode pods that are not being deleted (ready = the worker registered and serves KV).
    autoscale_decode_pods() { pool_pods "$namespace" decode ready | cut -d' ' -f1 | sort; }
    # The kubelet's probe sees the registered worker's KV port within its period.
    local before deadline=$((SECONDS + 30))
    until before=$(autoscale_decode_pods); [[ $(echo "$before" | wc -w) == 1 ]] || ((SECONDS > deadline)); do sleep 0.5; done
    [[ $(autoscale_replicas decode) == 1 && $(echo "$before" | wc -w) == 1 ]] || { echo "autoscale: expected one decode pod at start" >&2; return 1; }
    local start=$SECONDS
    load_start "$port" "$model" "$work/autoscale-load"
    local scaled=0
    if wait_for 180 bash -c "[[ \$(kubectl -n $namespace get deployment tessera-text-decode -o jsonpath='{.spec.replicas}') == 2 ]]"; then
        echo "autoscale: the StageAutoscaler set tessera-text-decode/scale to 2 after $((SECONDS - start)) s of load"
        # The new pod registered: two ready decode pods.
        wait_for 180 bash -c "[[ \$(kubectl -n $namespace get pods -l tessera.ai/pool=decode -o jsonpath='{.items[*].status.conditions[?(@.type==\"Ready\")].status}' | grep -o True | wc -l) == 2 ]]" && scaled=1
    fi
    load_stop "$work/autoscale-load"
    local during; during=$(autoscale_decode_pods)
    echo "autoscale: decode pods under load: $(echo $during); $(wc -l <"$work/autoscale-load/requests") requests"
    ((scaled)) && [[ $(echo "$during" | wc -w) == 2 ]] || { tail -n 30 "$k8s_work/autoscale-frontend.log" >&2; echo "autoscale: no second decode pod registered under load" >&2; return 1; }
    local added; added=$(comm -13 <(echo "$before") <(echo "$during"))
    echo "autoscale: added decode pod $added"
    # Idle: the next full evaluation retires one decode worker; it drains and its pod goes.
    local idle=$SECONDS
    if ! wait_for 120 bash -c "[[ \$(kubectl -n $namespace get deployment tessera-text-decode -o jsonpath='{.spec.replicas}') == 1 && \
            \$(kubectl -n $namespace get pods -l tessera.ai/pool=decode -o name | wc -l) == 1 ]]"; then
        kubectl -n "$namespace" get pods -o wide >&2; echo "autoscale: idle did not bring the decode pool back to one pod" >&2; return 1
    fi
    local after; after=$(autoscale_decode_pods)
    local removed; removed=$(comm -23 <(echo "$during") <(echo "$after"))
    echo "autoscale: idle for $((SECONDS - idle)) s: decode pod $removed drained and removed; $after remains; prefill pool at $(autoscale_replicas prefill)"
    [[ $(echo "$after" | wc -w) == 1 && $(comm -13 <(echo "$during") <(echo "$after")) == "" && $(autoscale_replicas prefill) == 1 ]] ||
        { echo "autoscale: the pool did not shrink by exactly the retired pod" >&2; return 1; }
    if [[ -s $work/autoscale-load/failures ]]; then cat "$work/autoscale-load/failures" >&2; echo "autoscale: requests were lost" >&2; return 1; fi
    chat "$port" "$model" 4 >/dev/null ||
        { echo "autoscale: no answer after the scale-down" >&2; return 1; }
    echo "autoscale: no request lost; the remaining decode pod answers"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

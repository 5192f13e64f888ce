# Sourced by tests/k8s/run.sh once the nodes are Ready and the tessera image is loaded:
#   external_check WORK MODEL_DIR TESSERA_BINARY
# The `external` autoscaling mode: a front end on this host runs the pd topology with
# `autoscaling: external` and the StageAutoscaler under a TTFT objective no request meets. This
# script plays the external scaler (KEDA, an HPA) with `kubectl scale`. Checks that the front end
# never writes /scale (it creates the pools at 0 and they stay at whatever the scaler set), that under
# load its planners' wish shows as tessera:desired_replicas{pool="tessera-text-decode"} = 2 in
# /metrics while the Deployment stays at 1, that a pod the scaler adds registers without a slot
# having been asked for and serves (tessera:pool_workers = 2), that the pod the scaler removes is
# drained and let go (pool_workers back to 1, nothing replaced), and that no request of the load fails.
external_check() {
    local work=$1 model=$2 binary=$3 namespace=tessera-external port pid
    frontend_start external "$namespace" "$model" "$binary" ", autoscaling: external" "planners: [{name: stage-autoscaler, interval: 1, evaluationPeriod: 1000, maximumInstances: 3}]" 1 "--slo-class unmeetable=0.000001:10"
    port=$frontend_port pid=$frontend_pid
    external_replicas() { kubectl -n "$namespace" get deployment "tessera-text-$1" -o jsonpath='{.spec.replicas}' 2>/dev/null; }
    # The front end creates the pools and leaves them at 0; the scaler brings each to 1.
    if ! wait_for 60 bash -c "[[ \$(kubectl -n $namespace get deployments -o name | wc -l) == 2 ]]"; then
        tail -n 20 "$k8s_work/external-frontend.log" >&2; echo "external: the front end did not create its pools" >&2; return 1
    fi
    [[ $(external_replicas prefill) == 0 && $(external_replicas decode) == 0 ]] || { echo "external: the front end scaled its pools" >&2; return 1; }
    kubectl -n "$namespace" scale deployment tessera-text-prefill tessera-text-decode --replicas 1 >/dev/null
    if ! wait_for 240 curl -fsS -o /dev/null "http://127.0.0.1:$port/health"; then
        tail -n 30 "$k8s_work/external-frontend.log" >&2; echo "external: the workers the scaler started did not register" >&2; return 1
    fi
    load_start "$port" "$model" "$work/external-load"
    external_stop_load() { load_stop "$work/external-load"; }
    if ! wait_for 60 bash -c "[[ \$(curl -fsS http://127.0.0.1:$port/metrics | grep -c '^tessera:desired_replicas{.*pool=\"tessera-text-decode\".* 2') == 1 ]]"; then
        external_stop_load; curl -fsS "http://127.0.0.1:$port/metrics" | grep '^tessera:\(desired\|pool\)' >&2
        echo "external: the planners' wish for a second decode worker does not show in /metrics" >&2; return 1
    fi
    echo "external: under load tessera:desired_replicas{pool=\"tessera-text-decode\"} = $(pool_metric "$port" desired_replicas decode); the Deployment stays at $(external_replicas decode)"
    [[ $(external_replicas decode) == 1 ]] || { external_stop_load; echo "external: the front end wrote /scale" >&2; return 1; }
    # The scaler follows: a second decode pod, registered without a slot asked for.
    kubectl -n "$namespace" scale deployment tessera-text-decode --replicas 2 >/dev/null
    if ! wait_for 180 bash -c "[[ \$(curl -fsS http://127.0.0.1:$port/metrics | grep '^tessera:pool_workers{.*pool=\"tessera-text-decode\"' | awk '{print int(\$2)}') == 2 ]]"; then
        external_stop_load; tail -n 20 "$k8s_work/external-frontend.log" >&2; echo "external: the added decode pod was not taken" >&2; return 1
    fi
    sleep 3
    echo "external: scaled to 2 by the scaler: tessera:pool_workers{pool=\"tessera-text-decode\"} = $(pool_metric "$port" pool_workers decode)"
    # And back: the pod the ReplicaSet removes is drained and let go; nothing replaces it.
    kubectl -n "$namespace" scale deployment tessera-text-decode --replicas 1 >/dev/null
    local down=$SECONDS
    if ! wait_for 90 bash -c "[[ \$(curl -fsS http://127.0.0.1:$port/metrics | grep '^tessera:pool_workers{.*pool=\"tessera-text-decode\"' | awk '{print int(\$2)}') == 1 && \
            \$(kubectl -n $namespace get pods -l tessera.ai/pool=decode -o name | wc -l) == 1 ]]"; then
        external_stop_load; kubectl -n "$namespace" get pods -o wide >&2; echo "external: the removed decode pod was not let go" >&2; return 1
    fi
    external_stop_load
    echo "external: scaled back to 1 by the scaler: the removed pod drained and gone in $((SECONDS - down)) s; the Deployment at $(external_replicas decode); $(wc -l <"$work/external-load/requests") requests"
    [[ $(external_replicas decode) == 1 && $(external_replicas prefill) == 1 ]] || { echo "external: the front end wrote /scale" >&2; return 1; }
    if [[ -s $work/external-load/failures ]]; then cat "$work/external-load/failures" >&2; echo "external: requests were lost" >&2; return 1; fi
    echo "external: no request lost"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

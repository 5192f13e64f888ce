# Sourced by tests/k8s/run.sh once the nodes are Ready and the tessera image is loaded.
#
#   overlay_apply OVERLAY MODEL_DIR
# `kubectl apply -k` of deploy/kubernetes/overlays/OVERLAY as an operator would run it, with only what
# this cluster needs patched in (the image loaded on the nodes, the fixture model on a hostPath
# volume, the e2e suite's serve flags, the API server's address: this cluster runs no kube-proxy,
# so the `kubernetes` Service address does not route; a 10 s grace period, which covers the front
# end's 5 s preStop and 5 s drain here, so that deleting an overlay is quick); waits until a front end is ready and sets
# overlay_leader_pod and overlay_address (its pod address).
#
#   overlay_serve_check OVERLAY WORK MODEL_DIR TESSERA_BINARY PYTEST_ARGS...
# applies OVERLAY, checks that the leader took every pool the overlay declares (1 replica each, the
# worker arguments naming its control address), runs the e2e openai suite (PYTEST_ARGS select from
# it) through its front end, and deletes the overlay again (its namespace with it), waiting until it is gone.
#
#   overlay_check WORK MODEL_DIR TESSERA_BINARY
# the pd overlay with leader election: of the two front-end replicas exactly one holds the Lease and
# becomes ready, with its prefill and decode pods registered from the pools the manifests declared;
# the e2e openai suite passes through it; when the leader is killed the other replica takes the
# lease within the lease duration, takes the pools over (their worker arguments name its control
# address, their replica counts stay as the topology says) and serves.
overlay_namespace=tessera

# The JSON-patch operations every Deployment of an overlay gets here: the image loaded on the
# nodes, the fixture models from a hostPath (volume VOLUME_INDEX), the short grace period.
#   overlay_local_ops VOLUME_INDEX MODELS_DIR
overlay_local_ops() {
    cat <<YAML
      - op: replace
        path: /spec/template/spec/containers/0/imagePullPolicy
        value: Never
      - op: replace
        path: /spec/template/spec/volumes/$1
        value: {name: models, hostPath: {path: "$2", type: Directory}}
      - op: add
        path: /spec/template/spec/terminationGracePeriodSeconds
        value: 10
YAML
}

overlay_apply() {
    local overlay=$1 model=$2 namespace=$overlay_namespace dir=$k8s_work/overlay-$1
    mkdir -p "$dir"
    kubectl get namespace "$namespace" >/dev/null 2>&1 || kubectl create namespace "$namespace" --save-config >/dev/null
    kubectl -n "$namespace" get secret tessera-worker-secret >/dev/null 2>&1 ||
        kubectl -n "$namespace" create secret generic tessera-worker-secret \
            --from-literal "secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >/dev/null
    local models; models=$(dirname "$model")
    # The front end's volumes are its topology and the model; a pool's, the model.
    cat >"$dir/kustomization.yaml" <<YAML
resources: ["$(realpath --relative-to "$dir" "deploy/kubernetes/overlays/$overlay")"]
patches:
  - target: {kind: Deployment, name: tessera-front-end}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/args
        value: [serve, --topology, /etc/tessera/topology.yaml, --control, "tcp:\$(TESSERA_POD_IP):7000",
                --model, /models/$(basename "$model"), --host, 0.0.0.0, --port, "8000", --max-queued-requests, "12",
                --max-num-seqs, "4", --max-body-size, "1", --kv-cache-memory, "64", --drain-timeout, "5", --read-timeout, "5"]
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {name: KUBERNETES_SERVICE_HOST, value: "$k8s_address"}
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {name: KUBERNETES_SERVICE_PORT, value: "$k8s_api_port"}
$(overlay_local_ops 1 "$models")
  - target: {kind: Deployment, labelSelector: app.kubernetes.io/component=worker}
    patch: |-
$(overlay_local_ops 0 "$models")
YAML
    kubectl apply -k "$dir" >/dev/null
    local start=$SECONDS
    if ! wait_for 300 bash -c "[[ -n \$(kubectl -n $namespace get pods -l app.kubernetes.io/component=front-end -o jsonpath='{.items[*].status.conditions[?(@.type==\"Ready\")].status}' | grep -w True) ]]"; then
        kubectl -n "$namespace" get pods -o wide >&2
        for pod in $(kubectl -n "$namespace" get pods -l app.kubernetes.io/component=front-end -o name); do kubectl -n "$namespace" logs "$pod" --tail 20 >&2; done
        echo "overlay $overlay: no front end became ready" >&2; return 1
    fi
    read -r overlay_leader_pod overlay_address < <(overlay_ready)
    echo "overlay $overlay: front end $overlay_leader_pod ($overlay_address) ready after $((SECONDS - start)) s; lease held by $(overlay_leader)"
}

overlay_leader() { kubectl -n "$overlay_namespace" get lease tessera-front-end -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
# The ready front ends, as "POD ADDRESS" lines.
overlay_ready() {
    kubectl -n "$overlay_namespace" get pods -l app.kubernetes.io/component=front-end \
        -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
        awk '$3 == "True" {print $1, $2}'
}
# The worker pools as "NAME REPLICAS FRONT_END" lines, FRONT_END the control address in their arguments.
overlay_pools() {
    kubectl -n "$overlay_namespace" get deployments -l app.kubernetes.io/component=worker -o json | python3 -c '
import json, sys
for d in json.load(sys.stdin)["items"]:
    args = d["spec"]["template"]["spec"]["containers"][0].get("args", [])
    print(d["metadata"]["name"], d["spec"].get("replicas"), args[args.index("--front-end") + 1] if "--front-end" in args else "-")'
}
# The e2e openai suite through the front end at ADDRESS; the rest of the arguments go to pytest
# (which tests: tests/e2e, a file of it, -k ...).
overlay_suite() {
    local overlay=$1 address=$2 model=$3 binary=$4; shift 4
    python3 -c "import openai, pytest, requests, prometheus_client" 2>/dev/null || python3 -m pip install --quiet --user -r tests/e2e/requirements.txt
    TESSERA_BASE_URL="http://$address:8000" TESSERA_MODEL_DIR="$model" TESSERA_FIXTURES="$PWD/fixtures" \
        TESSERA_BINARY="$binary" TESSERA_E2E_TOPOLOGY="overlays/$overlay" \
        timeout 900 python3 -m pytest -q "$@"
}

overlay_serve_check() {
    local overlay=$1 work=$2 model=$3 binary=$4; shift 4
    local start=$SECONDS
    overlay_apply "$overlay" "$model" || return 1
    local expected pools
    expected=$(kubectl kustomize "deploy/kubernetes/overlays/$overlay" | python3 -c '
import sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d["kind"] == "Deployment" and d["metadata"]["labels"].get("app.kubernetes.io/component") == "worker": print(d["metadata"]["name"])' |
        sort | sed "s|\$| 1 tcp:$overlay_address:7000|")
    # Each pool's pod registers and the leader's /health turns 200 only when every stage has a worker.
    pools=$(overlay_pools)
    echo "$pools" | sed "s/^/overlay $overlay: pool /"
    [[ $pools == "$expected" ]] || { echo "overlay $overlay: expected the pools"$'\n'"$expected" >&2; return 1; }
    kubectl -n "$overlay_namespace" get pods -l app.kubernetes.io/component=worker \
        -o jsonpath='{range .items[*]}{.metadata.labels.tessera\.ai/group}/{.metadata.labels.tessera\.ai/role} on {.spec.nodeName}{"\n"}{end}' |
        sort | sed "s/^/overlay $overlay: worker pod /"
    echo "openai suite through the $overlay overlay's front end $overlay_leader_pod ($overlay_address)"
    overlay_suite "$overlay" "$overlay_address" "$model" "$binary" "$@" || return 1
    # Its namespace is part of it: everything goes with it.
    kubectl delete -k "$k8s_work/overlay-$overlay" --wait=false >/dev/null
    if ! wait_for 180 bash -c "! kubectl get namespace $overlay_namespace"; then
        kubectl -n "$overlay_namespace" get pods -o wide >&2; echo "overlay $overlay: the namespace outlived kubectl delete -k" >&2; return 1
    fi
    echo "overlay $overlay: applied, served and deleted in $((SECONDS - start)) s"
}

overlay_check() {
    local work=$1 model=$2 binary=$3 namespace=$overlay_namespace
    overlay_apply pd "$model" || return 1
    local leader address ready
    leader=$(overlay_leader)
    ready=$overlay_leader_pod address=$overlay_address
    [[ $ready == "$leader" && $(overlay_ready | wc -l) == 1 ]] || { echo "overlay: the ready front end is not the lease holder, or both are ready" >&2; return 1; }
    local pools; pools=$(overlay_pools)
    echo "$pools" | sed 's/^/overlay pd: pool /'
    [[ $pools == "tessera-text-decode 1 tcp:$address:7000"$'\n'"tessera-text-prefill 1 tcp:$address:7000" ]] ||
        { echo "overlay: the leader did not take the declared pools over" >&2; return 1; }

    echo "openai suite through the pd overlay's front end $leader ($address)"
    overlay_suite pd "$address" "$model" "$binary" tests/e2e -k "not sigterm" || return 1

    # The leader killed outright (no lease release): the other replica takes over within the lease duration.
    local killed=$SECONDS old=$leader
    kubectl -n "$namespace" delete pod "$leader" --grace-period 0 --force >/dev/null 2>&1
    wait_for 60 bash -c "h=\$(kubectl -n $namespace get lease tessera-front-end -o jsonpath='{.spec.holderIdentity}'); [[ -n \$h && \$h != $old ]]" ||
        { echo "overlay: no other front end took the lease over" >&2; return 1; }
    leader=$(overlay_leader)
    echo "overlay pd: $leader holds the lease $((SECONDS - killed)) s after $old was killed"
    ((SECONDS - killed <= 15 + 2 + 5)) || { echo "overlay: the takeover took longer than the lease duration" >&2; return 1; }
    if ! wait_for 300 bash -c "kubectl -n $namespace get pod $leader -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"; then
        kubectl -n "$namespace" logs "$leader" --tail 30 >&2; kubectl -n "$namespace" get pods -o wide >&2
        echo "overlay: the new leader did not become ready" >&2; return 1
    fi
    address=$(kubectl -n "$namespace" get pod "$leader" -o jsonpath='{.status.podIP}')
    pools=$(overlay_pools)
    echo "overlay pd: $leader ($address) serving $((SECONDS - killed)) s after the kill; pools:"
    echo "$pools" | sed 's/^/overlay pd:   /'
    [[ $pools == "tessera-text-decode 1 tcp:$address:7000"$'\n'"tessera-text-prefill 1 tcp:$address:7000" ]] ||
        { echo "overlay: the new leader did not take the pools over" >&2; return 1; }
    curl -fsS --max-time 120 "http://$address:8000/v1/chat/completions" -H 'content-type: application/json' \
        -d '{"model": "'"$(basename "$model")"'", "max_tokens": 4, "messages": [{"role": "user", "content": "Hello"}]}' |
        python3 -c 'import json, sys; r = json.load(sys.stdin); assert r["usage"]["completion_tokens"] > 0' ||
        { echo "overlay: the new leader does not answer" >&2; return 1; }
    echo "overlay pd: the new leader answers"
}

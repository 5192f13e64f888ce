#!/usr/bin/env bash
# Installs what the build needs, builds Tessera and runs every test suite: the Swift suites, the
# fuzz targets for a bounded time each (tests/fuzz/run.sh), then the end-to-end suite that drives a
# live `tessera serve` with the official `openai` client, once on the single-process engine (then
# the compatibility suite: LiteLLM, LangChain, lm-evaluation-harness, and schemathesis against its
# /openapi.json), through prefill/decode worker processes, through a text
# group plus an encode/prefill/decode multimodal group, and with the workers in separate network
# namespaces (as root); last the Kubernetes suite against a real control plane (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
ensure_debian_packages "${TESSERA_DEBIAN_PACKAGES[@]}"
# Building Kubernetes from source is the slow part of the Kubernetes suite: it starts now, at the
# lowest priority, beside the Swift build and suites, and is cached for later runs.
if [[ $(id -u) == 0 ]]; then
    mkdir -p .build
    nice -n 19 tests/k8s/build-kubernetes.sh >.build/build-kubernetes.log 2>&1 &
fi
swift build --build-tests
# The suites that start worker processes run on their own: beside the rest of the suites on two
# cores their processes start too slowly for the suites' time limits.
swift test --skip-build --skip "FrontEndTests|WorkersTests"
swift test --skip-build --filter "FrontEndTests|WorkersTests"
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of the parsers of untrusted bytes, 40 s a target.
tests/fuzz/run.sh
tests/e2e/run.sh
tests/compat/run.sh
tests/schemathesis/run.sh
TESSERA_E2E_TOPOLOGY=examples/topologies/pd.yaml tests/e2e/run.sh
TESSERA_E2E_TOPOLOGY=examples/topologies/pd.yaml tests/compat/run.sh
TESSERA_E2E_TOPOLOGY=examples/topologies/groups-epd.yaml tests/e2e/run.sh
if [[ $(id -u) == 0 ]]; then tests/e2e/multihost.sh; fi
tests/k8s/run.sh

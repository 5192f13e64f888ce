#!/usr/bin/env bash
# The compatibility suite: LiteLLM, LangChain and lm-evaluation-harness, at the versions pinned in
# tests/compat/requirements.txt, against a live `tessera serve` started by the e2e launcher.
# Usage: tests/compat/run.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch="${TESSERA_SCRATCH:-.build}"
venv="$scratch/compat-venv"
pins=$(cat tests/e2e/requirements.txt tests/compat/requirements.txt)
# The venv sees the system's torch and transformers; it is rebuilt when the pins change.
if [[ "$(cat "$venv/pins" 2>/dev/null)" != "$pins" ]]; then
    rm -rf "$venv"
    python3 -m venv --system-site-packages "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/compat/requirements.txt
    printf '%s' "$pins" >"$venv/pins"
fi
# Nothing is fetched at run time: LiteLLM's price list, Hugging Face datasets and tokenizers are local.
export LITELLM_LOCAL_MODEL_COST_MAP=True HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
TESSERA_E2E_SUITE=tests/compat TESSERA_E2E_PYTHON="$venv/bin/python" exec tests/e2e/run.sh "$@"

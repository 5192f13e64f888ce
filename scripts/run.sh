#!/usr/bin/env bash
# Installs what the build needs, builds Tessera (release) and serves the embedded default model
# (a small vision-language model) over the OpenAI API on http://127.0.0.1:8000/v1.
# Arguments are passed on to `tessera serve`, e.g. scripts/run.sh --port 9000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
ensure_debian_packages "${TESSERA_DEBIAN_PACKAGES[@]}"
swift build -c release --product tessera >&2
exec .build/release/tessera serve "$@"

#!/usr/bin/env bash
# Installs what the build needs, builds Tessera (release) and runs `tessera generate`
# on the embedded default model. Arguments are passed on, e.g. scripts/run.sh --prompt "Hi" --max-tokens 20
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
ensure_debian_packages "${TESSERA_DEBIAN_PACKAGES[@]}"
swift build -c release --product tessera >&2
exec .build/release/tessera generate "$@"

#!/usr/bin/env bash
# Builds a container image of `tessera` without a registry or an image builder: the release binary
# (Swift's standard library linked statically), its resource bundle (the embedded default model) and
# the shared libraries it still loads (its ldd closure: OpenBLAS, libpng, libjpeg, libc), packed as a
# docker-archive tarball that `ctr -n k8s.io images import`, `docker load` and `podman load` read.
#
#   scripts/build-image.sh                          # .build/tessera-image.tar, tagged tessera:local
#   scripts/build-image.sh OUT.tar TAG
#   TESSERA_IMAGE_BINARY=.build/debug/tessera scripts/build-image.sh OUT.tar TAG   # pack an existing build
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/image.sh
output=${1:-.build/tessera-image.tar}
tag=${2:-tessera:local}
binary=${TESSERA_IMAGE_BINARY:-}
if [[ -z $binary ]]; then
    swift build -c release --static-swift-stdlib --product tessera
    binary="$(swift build -c release --show-bin-path)/tessera"
fi
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
copy_with_libraries "$rootfs" "$binary" /usr/local/bin/tessera
# Bundle.module looks for the resource bundle beside the executable.
cp -r "$(dirname "$binary")/Tessera_tessera.resources" "$rootfs/usr/local/bin/"
install -d -m 1777 "$rootfs/tmp"
mkdir -p "$(dirname "$output")"
pack_image "$rootfs" "$tag" "$output" /usr/local/bin/tessera
echo "$output ($tag, $(du -h "$output" | cut -f1))"

# Container images without a registry or an image builder: a root filesystem folder packed as a
# docker-archive tarball (one layer), which `ctr -n k8s.io images import`, `docker load` and
# `podman load` all read.
#
#   source scripts/lib/image.sh
#   pack_image ROOTFS TAG OUTPUT.tar ENTRYPOINT...
#   copy_with_libraries ROOTFS /path/to/binary /usr/local/bin/name   # the binary, and its ldd closure at the same paths

# Copies a dynamically linked executable to DEST in ROOTFS and every shared library it loads (its
# `ldd` closure, the dynamic loader included) at their own paths.
copy_with_libraries() {
    local rootfs=$1 binary=$2 dest=$3 lib
    install -D -m 0755 "$binary" "$rootfs$dest"
    for lib in $(ldd "$binary" 2>/dev/null | grep -oE '/[^ ]+' | sort -u); do
        [[ -e $lib ]] || continue
        install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
    done
}

pack_image() {
    local rootfs=$1 tag=$2 output=$3; shift 3
    local dir; dir=$(mktemp -d)
    tar -C "$rootfs" --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -cf "$dir/layer.tar" .
    local diff; diff=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
    local entrypoint; entrypoint=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@")
    cat >"$dir/config.json" <<CONFIG
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Entrypoint":$entrypoint,"Env":["PATH=/usr/local/bin:/usr/bin:/bin"],"WorkingDir":"/"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff"]},"history":[{"created":"1970-01-01T00:00:00Z"}]}
CONFIG
    local config; config=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
    mv "$dir/config.json" "$dir/$config.json"
    mkdir "$dir/$diff" && mv "$dir/layer.tar" "$dir/$diff/layer.tar"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$config" "$tag" "$diff" >"$dir/manifest.json"
    tar -C "$dir" -cf "$output" manifest.json "$config.json" "$diff"
    rm -rf "$dir"
}

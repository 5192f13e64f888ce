#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and a static pause binary
# from Debian's `kubernetes` source package, offline with Debian's Go, and caches them outside the
# repository keyed by the source version. Prints the cache folder on its last line.
#
#   tests/k8s/build-kubernetes.sh            # build once, then reuse the cache
#   TESSERA_K8S_CACHE=/some/dir tests/k8s/build-kubernetes.sh
#
# Debian 12 ships no kubelet or kube-apiserver binary package, but its source package carries the whole
# 1.20 tree with vendor/. The vendored modern-go/reflect2 1.0.1 makes kube-apiserver panic under
# Go >= 1.18 on the first JSON map it decodes, so Debian's reflect2 1.0.2 replaces it.
# Needs root (apt). Everything runs at nice 19: the build is CPU-bound for about ten minutes.
set -euo pipefail

cache_root=${TESSERA_K8S_CACHE:-/var/cache/tessera}
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
log() { echo "build-kubernetes: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "needs root (apt-get)"; exit 2; }
export DEBIAN_FRONTEND=noninteractive

# Source packages: a deb-src twin of every enabled stanza that names this release's suites.
enable_deb_src() {
    local codename; codename=$(. /etc/os-release && echo "${VERSION_CODENAME:?}")
    local target=/etc/apt/sources.list.d/tessera-deb-src.sources
    grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
        /etc/apt/sources.list.d/*.list && return 0
    local tmp; tmp=$(mktemp)
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        # Paragraphs are separated by blank lines; keep the ones of type deb that list this release.
        awk -v RS= -v ORS='\n\n' -v code="$codename" '
            $0 ~ /(^|\n)Types:[^\n]*deb/ && $0 ~ ("(^|\n)Suites:[^\n]*(^| )" code "([-][a-z]+)?( |\n|$)") {
                sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >>"$tmp"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -e "$f" ] || continue
        grep -E "^deb [^#]* $codename(-[a-z]+)? " "$f" | sed 's/^deb /deb-src /' >>"$tmp" || true
    done
    [ -s "$tmp" ] || { log "no apt source for $codename to derive deb-src from"; rm -f "$tmp"; exit 2; }
    if grep -q '^deb-src ' "$tmp"; then mv "$tmp" /etc/apt/sources.list.d/tessera-deb-src.list
    else mv "$tmp" "$target"; fi
    chmod 644 /etc/apt/sources.list.d/tessera-deb-src.* 2>/dev/null || true
    apt-get -o DPkg::Lock::Timeout=600 update -qq
}

# One build at a time (scripts/test.sh starts one early in the background; tests/k8s/run.sh waits for it).
mkdir -p "$cache_root"
exec 9>"$cache_root/.build.lock"
flock 9

enable_deb_src
version=$(apt-cache showsrc kubernetes 2>/dev/null | awk '/^Version:/ {print $2; exit}')
[ -n "$version" ] || { apt-get update -qq; version=$(apt-cache showsrc kubernetes | awk '/^Version:/ {print $2; exit}'); }
[ -n "$version" ] || { log "no kubernetes source package"; exit 2; }
out="$cache_root/kubernetes-$version"
if [ -f "$out/.complete" ]; then echo "$out"; exit 0; fi

log "building kubernetes $version into $out (nice 19)"
apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends golang-go golang-github-modern-go-reflect2-dev rsync make gcc libc6-dev >/dev/null

work="$cache_root/build-$version"
mkdir -p "$work" && cd "$work"
ls kubernetes_*.orig.tar.* >/dev/null 2>&1 || apt-get source --download-only kubernetes >/dev/null
orig=$(ls kubernetes_*.orig.tar.* | head -n1)
src="$work/.go/src/k8s.io/kubernetes"
if [ ! -f "$src/.unpacked" ]; then
    rm -rf "$src" && mkdir -p "$src"
    tar -xf "$orig" -C "$src" --strip-components=1
    reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
    rm -rf "$src/vendor/github.com/modern-go/reflect2"
    cp -r "$reflect2" "$src/vendor/github.com/modern-go/reflect2"
    rm -f "$src/vendor/github.com/modern-go/reflect2/go.mod"
    touch "$src/.unpacked"
fi

cd "$src"
export GOPATH="$work/.go" GOCACHE="$work/.gocache" CGO_ENABLED=0 GOPROXY=off GOFLAGS=-mod=vendor
export KUBE_GIT_VERSION="v${version%%-*}" KUBE_GIT_TREE_STATE=clean
whats=(); for b in "${binaries[@]}"; do whats+=("cmd/$b"); done
nice -n 19 make WHAT="${whats[*]}" GOFLAGS=-mod=vendor >&2

mkdir -p "$out"
for b in "${binaries[@]}"; do install -m 0755 "_output/bin/$b" "$out/$b"; done
nice -n 19 gcc -Os -static -DVERSION="v${version%%-*}" -o "$out/pause" build/pause/linux/pause.c
strip "$out/pause" || true
echo "$version" >"$out/.complete"
# The source tree and Go's build cache (gigabytes) are of no further use once the binaries are cached.
cd / && rm -rf "$work"
log "done: $(ls "$out" | tr '\n' ' ')"
echo "$out"

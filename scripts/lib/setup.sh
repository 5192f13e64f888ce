# Shared set-up for the project's scripts: installs missing Debian packages, nothing else.

# ensure_debian_packages PKG...: installs whichever of PKG are missing (needs root or sudo).
ensure_debian_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing Debian packages: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The C libraries Tessera links against.
TESSERA_DEBIAN_PACKAGES=(pkg-config libopenblas-dev libpng-dev libjpeg62-turbo-dev curl)

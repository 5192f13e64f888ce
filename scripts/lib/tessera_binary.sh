# Shared by the benchmark scripts: the tessera executable to run.

# tessera_binary: prints $TESSERA_BINARY, or builds the release executable and prints its path.
tessera_binary() {
    if [[ -n "${TESSERA_BINARY:-}" ]]; then
        echo "$TESSERA_BINARY"
    else
        swift build -c release --product tessera >&2
        echo .build/release/tessera
    fi
}

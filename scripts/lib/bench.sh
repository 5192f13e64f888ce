# Shared by the benchmark scripts that serve one model and load it with `tessera bench`.
#
#   source scripts/lib/bench.sh
#   bench_setup DEFAULT_MODEL DEFAULT_OUT "$@"    # or, for a script without a model argument:
#   bench_output DEFAULT_OUT
source scripts/lib/tessera_binary.sh
source scripts/lib/serve.sh

# bench_setup DEFAULT_MODEL DEFAULT_OUT [MODEL]: sets $model (MODEL, else DEFAULT_MODEL), $name (its
# folder's name), and $out and $binary as bench_output does.
bench_setup() {
    model="${3:-$1}"
    name=$(basename "$model")
    bench_output "$2"
}

# bench_output DEFAULT_OUT: sets $out ($OUT, else DEFAULT_OUT; created) and $binary (see tessera_binary).
bench_output() {
    out="${OUT:-$1}"
    mkdir -p "$out"
    binary=$(tessera_binary)
}

# Shared by the image serving benchmarks (scripts/bench/images_*.sh), after scripts/lib/bench.sh.
#
#   image_server_ready PORT MODEL SIZE [JSON_FIELDS]   # healthy, warmed up, metrics saved
#   "$binary" bench images …
#   metrics_since PORT "$out/NAME.metrics"             # the run's counters alone

# image_server_ready PORT MODEL SIZE [JSON_FIELDS]: waits until the server is healthy (HEALTHY_TRIES ×
# 0.2 s, default 3000: a full-size model loads for minutes), sends one 2-step image (PNDM takes no fewer) of SIZE (with
# JSON_FIELDS, e.g. '"controlnets": […]', added to the request) so that state made on first use
# (Winograd-transformed weights per layer, a ControlNet's) is made before the measured requests,
# and keeps the server's metrics then in $metrics_before.
image_server_ready() {
    wait_healthy "$1" "${HEALTHY_TRIES:-3000}"
    curl -fsS -o /dev/null -H 'Content-Type: application/json' "http://127.0.0.1:$1/v1/images/generations" \
        -d "{\"model\": \"$2\", \"prompt\": \"warm-up\", \"size\": \"$3\", \"num_inference_steps\": 2, \"seed\": 0${4:+, $4}}"
    metrics_before=$(curl -fsS "http://127.0.0.1:$1/metrics")
}

# metrics_since PORT FILE: writes the server's tessera: counters minus those image_server_ready kept
# into FILE (same exposition lines), so the warm-up image is not counted.
metrics_since() {
    curl -fsS "http://127.0.0.1:$1/metrics" | python3 -c '
import sys
before = {}
for line in sys.argv[1].splitlines():
    if line.startswith("tessera:"):
        key, value = line.rsplit(" ", 1)
        before[key] = float(value)
for line in sys.stdin:
    if line.startswith("tessera:"):
        key, value = line.rsplit(" ", 1)
        print(key, float(value) - before.get(key, 0.0))
' "$metrics_before" >"$2"
}

# control_image_field PATH: a JSON data URI string of the PNG or JPEG at PATH.
control_image_field() {
    local type=png
    [[ $1 == *.jp*g ]] && type=jpeg
    printf '"data:image/%s;base64,%s"' "$type" "$(base64 -w0 "$1")"
}

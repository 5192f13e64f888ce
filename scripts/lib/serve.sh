# Shared by the scripts that test a live `tessera serve`: a free port, the server in the background
# (stopped when the script exits), and waiting for it to be healthy.

# free_port: prints a TCP port free on 127.0.0.1.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# serve_in_background LOG COMMAND...: runs COMMAND (a `tessera serve` command line) in the background
# with its output in LOG, sets $server to its pid and stops it when the script exits; LOG is removed
# then too unless $keep_server_log is 1.
serve_in_background() {
    server_log=$1
    shift
    "$@" >"$server_log" 2>&1 &
    server=$!
    trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; [[ ${keep_server_log:-0} == 1 ]] || rm -f "$server_log"' EXIT
}

# wait_healthy PORT [TRIES]: waits until http://127.0.0.1:PORT/health answers (TRIES × 0.2 s, default
# 300); if the server exits first, prints its log and fails.
wait_healthy() {
    for _ in $(seq 1 "${2:-300}"); do
        if curl -fsS "http://127.0.0.1:$1/health" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$server" 2>/dev/null; then cat "$server_log"; echo "tessera serve exited before becoming healthy" >&2; return 1; fi
        sleep 0.2
    done
}

# stop_server: stops the server serve_in_background started and waits for it to exit.
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; }

# result_row JSON LABEL FIELD...: prints a Markdown table row of LABEL and each FIELD, a Python
# f-string body over the bench result `r` read from JSON, e.g. "{r['ttft_ms']['median']:.0f}".
result_row() {
    python3 - "$@" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("| " + " | ".join([sys.argv[2]] + [eval("f" + repr(field), {"r": r}) for field in sys.argv[3:]]) + " |")
PY
}

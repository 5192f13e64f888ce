"""Probes and supervision: /ready, prompt tokens counted once per request, and (through worker
processes) a killed worker relaunched while /health and /ready report its empty stage."""
import os
import pathlib
import signal
import time

import pytest
import requests
from prometheus_client import parser as prometheus_parser


def _metrics(base_url):
    text = requests.get(base_url + "/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in prometheus_parser.text_string_to_metric_families(text) for s in family.samples}


def _value(metrics, name, **labels):
    return sum(v for (n, l), v in metrics.items() if n == name and all(dict(l).get(k) == w for k, w in labels.items()))


def test_ready(base_url):
    response = requests.get(base_url + "/ready", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def _settled(base_url, name):
    """The counter once it stops moving: workers report theirs with their heartbeats, so earlier
    requests may still be arriving."""
    previous = None
    for _ in range(40):
        value = _value(_metrics(base_url), name)
        if value == previous:
            return value
        previous = value
        time.sleep(0.5)
    return previous


def test_prompt_tokens_are_counted_once_per_request(base_url, client, model):
    before = _settled(base_url, "tessera:prompt_tokens_total")
    usage = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Count this prompt once, wherever it runs."}],
        max_tokens=3, temperature=0).usage
    assert _settled(base_url, "tessera:prompt_tokens_total") - before == usage.prompt_tokens


def _decode_worker():
    """The pid of the server's decode worker (a child process started with `worker --role decode`)."""
    server = os.environ["TESSERA_SERVER_PID"]
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] != server:
                continue
            arguments = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if b"worker" in arguments and b"--role" in arguments and arguments[arguments.index(b"--role") + 1] == b"decode":
            return int(stat.parent.name)
    return None


@pytest.mark.skipif(not os.environ.get("TESSERA_E2E_TOPOLOGY"), reason="worker processes run only with --topology")
def test_killed_worker_is_relaunched_and_reported_meanwhile(base_url, client, model):
    if "TESSERA_SERVER_PID" not in os.environ:
        pytest.skip("the server is not a local process (its workers run in pods: tests/k8s/pd.sh kills one there)")
    restarts = _value(_metrics(base_url), "tessera:worker_restarts_total", role="decode")
    victim = _decode_worker()
    assert victim is not None, "no decode worker among the server's children"
    os.kill(victim, signal.SIGKILL)
    # Until the replacement registers (it loads the model first), the stage has no live worker.
    seen = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        health = requests.get(base_url + "/health", timeout=10)
        if health.status_code == 503:
            seen["health"] = health.json()["error"]["message"]
            ready = requests.get(base_url + "/ready", timeout=10)
            if ready.status_code == 503:
                seen["ready"] = ready.json()["error"]["message"]
        elif health.status_code == 200 and _decode_worker() not in (None, victim) and "health" in seen:
            break
        time.sleep(0.01)
    assert "no live decode worker" in seen.get("health", ""), seen
    assert "no live decode worker" in seen.get("ready", ""), seen
    assert requests.get(base_url + "/ready", timeout=10).status_code == 200
    assert _value(_metrics(base_url), "tessera:worker_restarts_total", role="decode") == restarts + 1
    answer = client.completions.create(model=model, prompt="Hello", max_tokens=3, temperature=0)
    assert answer.usage.completion_tokens == 3

"""Every client mistake is an OpenAI error object with a 4xx status."""
import base64
import json
import os
import signal
import socket
import time

import openai
import pytest
import requests


def post(base_url, path, body=None, data=None):
    return requests.post(base_url + path, json=body, data=data, timeout=60)


def assert_error(response, status, param=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if param is not None:
        assert error["param"] == param
    return error


def test_invalid_json(base_url):
    error = assert_error(post(base_url, "/v1/chat/completions", data=b"{not json"), 400)
    assert error["code"] == "invalid_json"


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["code"] == "model_not_found"


@pytest.mark.parametrize("field, value", [
    ("temperature", -1), ("top_p", 0), ("top_p", 1.5), ("presence_penalty", 3), ("frequency_penalty", -2.5),
    ("max_tokens", 0), ("n", 0), ("n", 1000), ("top_logprobs", 5), ("temperature", "hot"), ("stop", [""]),
])
def test_bad_parameter_values(base_url, model, field, value):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], field: value}
    error = assert_error(post(base_url, "/v1/chat/completions", body), 400)
    assert field in error["message"] or field == error["param"]


def test_missing_messages_and_bad_role(base_url, model):
    assert_error(post(base_url, "/v1/chat/completions", {"model": model}), 400, "messages")
    body = {"model": model, "messages": [{"role": "wizard", "content": "hi"}]}
    assert_error(post(base_url, "/v1/chat/completions", body), 400, "messages[0].role")


def test_prompt_too_long(client, model):
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model=model, prompt="hello " * 400, max_tokens=4)
    assert info.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=model, prompt="hello", max_tokens=10_000)


def test_token_ids_outside_the_vocabulary(base_url, model):
    assert_error(post(base_url, "/v1/completions", {"model": model, "prompt": [1, 99_999_999]}), 400, "prompt")


def test_images_on_a_text_model(base_url, model):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    body = {"model": model, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]}]}
    error = assert_error(post(base_url, "/v1/chat/completions", body), 400, "messages[0].content[1].image_url")
    assert error["code"] == "images_not_supported"


def test_body_too_large_is_413(base_url, model):
    body = {"model": model, "prompt": "x" * (2 << 20)}
    assert_error(post(base_url, "/v1/completions", body), 413)


def test_unknown_route_is_404(base_url):
    assert requests.get(base_url + "/v1/nothing", timeout=10).status_code == 404


def test_overload_gets_503_with_retry_after_and_every_accepted_request_finishes(base_url, model):
    import concurrent.futures

    def call(_):
        return requests.post(base_url + "/v1/completions", json={
            "model": model, "prompt": "Once upon a time", "max_tokens": 48, "ignore_eos": True}, timeout=300)

    with concurrent.futures.ThreadPoolExecutor(max_workers=48) as pool:
        responses = list(pool.map(call, range(48)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert 503 in statuses and 200 in statuses
    for r in responses:
        if r.status_code == 503:
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["error"]["type"] == "service_unavailable_error"
        else:
            assert r.json()["usage"]["completion_tokens"] == 48


def test_client_disconnect_aborts_the_request(base_url, model):
    with requests.post(base_url + "/v1/chat/completions", json={
            "model": model, "messages": [{"role": "user", "content": "go"}], "max_tokens": 200, "stream": True,
            "ignore_eos": True}, stream=True, timeout=60) as r:
        next(r.iter_lines())
    # The aborted request leaves the running set soon after the connection closes.
    for _ in range(100):
        metrics = requests.get(base_url + "/metrics", timeout=10).text
        running = [line for line in metrics.splitlines() if line.startswith("tessera:num_requests_running")]
        if running and float(running[0].split()[-1]) == 0:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the disconnected request kept running")
    assert "tessera:request_aborted_total" in metrics


def aborted_requests(base_url):
    metrics = requests.get(base_url + "/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("tessera:request_aborted_total"))


def test_client_disconnect_aborts_a_non_streaming_request(base_url, model):
    """Nothing is written before a non-streaming answer, so the server watches the connection."""
    before = aborted_requests(base_url)
    host, port = base_url.split("//")[1].split(":")
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "go"}], "max_tokens": 230,
                       "ignore_eos": True, "n": 4}).encode()
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        # Hang up once the request runs.
        for _ in range(500):
            metrics = requests.get(base_url + "/metrics", timeout=10).text
            if any(line.startswith("tessera:num_requests_running") and float(line.split()[-1]) > 0
                   for line in metrics.splitlines()):
                break
            time.sleep(0.01)
    for _ in range(100):
        if aborted_requests(base_url) > before:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the disconnected request was not aborted")


def test_responses_keep_the_connection_alive(base_url, model):
    """A keep-alive client sends its next request on the same connection."""
    with requests.Session() as session:
        for _ in range(2):
            with session.post(base_url + "/v1/chat/completions", json={
                    "model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": True},
                    stream=True, timeout=60) as r:
                assert r.status_code == 200
                assert r.headers.get("connection", "").lower() != "close"
                lines = [line for line in r.iter_lines() if line]
                assert lines[-1] == b"data: [DONE]"
        r = session.post(base_url + "/v1/chat/completions", json={
            "model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}, timeout=60)
        assert r.status_code == 200 and r.headers.get("connection", "").lower() != "close"


def test_metrics_exposition(base_url):
    text = requests.get(base_url + "/metrics", timeout=10).text
    for name in [
        "tessera:time_to_first_token_seconds_bucket", "tessera:inter_token_latency_seconds_bucket",
        "tessera:e2e_request_latency_seconds_count", "tessera:request_queue_time_seconds_sum",
        "tessera:num_requests_running", "tessera:num_requests_waiting", "tessera:kv_cache_usage_perc",
        "tessera:prefix_cache_queries_total", "tessera:prefix_cache_hits_total", "tessera:encoder_cache_queries_total",
        "tessera:image_fetch_seconds", "tessera:image_decode_seconds", "tessera:image_preprocess_seconds",
        "tessera:image_encode_seconds", "tessera:request_success_total",
    ]:
        assert name in text, name


def test_zz_sigterm_drains_then_exits(base_url, model):
    """Runs last: an in-flight stream finishes, health turns 503, then the server exits."""
    pid = int(os.environ["TESSERA_SERVER_PID"])
    with requests.post(base_url + "/v1/completions", json={
            "model": model, "prompt": "drain", "max_tokens": 240, "stream": True, "ignore_eos": True},
            stream=True, timeout=60) as r:
        lines = r.iter_lines()
        next(lines)
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.05)
        health = requests.get(base_url + "/health", timeout=10)
        assert health.status_code == 503
        rest = [line for line in lines if line]
    assert rest[-1] == b"data: [DONE]"
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the server did not exit after draining")

"""Hostile but fair inputs: each gets a precise 4xx, a bounded response time or correct output."""
import json
import socket
import time

import pytest
import requests


def post(base_url, path, body, timeout=60):
    return requests.post(base_url + path, json=body, timeout=timeout)


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


@pytest.mark.parametrize("path, field", [
    ("/v1/chat/completions", "max_tokens"), ("/v1/chat/completions", "max_completion_tokens"),
    ("/v1/completions", "max_tokens"),
])
def test_max_tokens_near_int_max_is_a_400(base_url, model, path, field):
    body = {"model": model, field: 9223372036854775807}
    body.update({"messages": [{"role": "user", "content": "hi"}]} if "chat" in path else {"prompt": "hi"})
    assert error_of(post(base_url, path, body), 400)["code"] == "context_length_exceeded"
    assert requests.get(base_url + "/health", timeout=10).status_code == 200


@pytest.mark.parametrize("field, value, code", [
    ("max_tokens", 1.5, "invalid_type"), ("n", 2.5, "invalid_type"), ("seed", 1e30, "invalid_value"),
    ("top_logprobs", 18446744073709551616, "invalid_value"),
])
def test_numbers_that_are_not_integers_name_their_field(base_url, model, field, value, code):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], field: value}
    error = error_of(post(base_url, "/v1/chat/completions", body), 400)
    assert (error["param"], error["code"]) == (field, code)


def test_sampling_edges(base_url, model, reference):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    assert error_of(post(base_url, "/v1/chat/completions", {**body, "top_k": -5}), 400)["param"] == "top_k"
    assert post(base_url, "/v1/chat/completions", {**body, "top_k": -1, "top_p": 5e-324}).status_code == 200
    # A denormal temperature is greedy, not the last vocabulary entry over and over.
    prompt = {"model": model, "prompt": reference["prompts"][0]["text"], "max_tokens": 8}
    greedy = post(base_url, "/v1/completions", {**prompt, "temperature": 0}).json()["choices"][0]["text"]
    for temperature in [1e-40, 4e-45]:
        text = post(base_url, "/v1/completions", {**prompt, "temperature": temperature}).json()["choices"][0]["text"]
        assert text == greedy


def test_a_long_model_name_is_not_echoed(base_url):
    response = post(base_url, "/v1/chat/completions", {"model": "m" * 500_000, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404 and len(response.content) < 1024


def test_requests_that_never_fit_the_queue_are_400s(base_url, model):
    # The suite's server queues at most 12 requests.
    error = error_of(post(base_url, "/v1/completions", {"model": model, "prompt": ["p"] * 13, "max_tokens": 1}), 400)
    assert error["code"] == "request_too_large"
    error = error_of(post(base_url, "/v1/completions", {"model": model, "prompt": "p", "n": 13, "max_tokens": 1}), 400)
    assert error["code"] == "request_too_large"


def test_a_prompt_too_long_for_the_context_is_refused_by_its_size(base_url, model):
    start = time.monotonic()
    error = error_of(post(base_url, "/v1/completions", {"model": model, "prompt": "word " * 180_000}), 400)
    assert error["code"] == "context_length_exceeded"
    assert time.monotonic() - start < 20
    assert requests.get(base_url + "/health", timeout=5).status_code == 200


def raw_request(body, extra=b""):
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(body))


def read_response(sock):
    """Status codes of every response head read, and the final body."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    statuses = [int(line.split()[1]) for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
    return statuses, data.rsplit(b"\r\n\r\n", 1)[-1]


def test_a_half_closed_client_gets_its_answer(base_url, model):
    host, port = base_url.split("//")[1].split(":")
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,
                       "ignore_eos": True}).encode()
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(raw_request(body) + body)
        sock.shutdown(socket.SHUT_WR)
        statuses, payload = read_response(sock)
    assert statuses[-1] == 200 and set(statuses[:-1]) <= {100}
    answer = json.loads(payload)
    assert answer["usage"]["completion_tokens"] == 5 and answer["choices"][0]["message"]["content"]


def test_expect_100_continue_is_answered(base_url, model):
    host, port = base_url.split("//")[1].split(":")
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}).encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(raw_request(body, b"Expect: 100-continue\r\nConnection: close\r\n"))
        assert sock.recv(4096).startswith(b"HTTP/1.1 100")
        sock.sendall(body)
        statuses, _ = read_response(sock)
    assert statuses[-1] == 200


@pytest.mark.parametrize("sent", [
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n",                            # a head that never ends
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",  # a short body
    b"",                                                                             # nothing at all
])
def test_stalled_clients_are_disconnected(base_url, sent):
    """The suite's server runs with --read-timeout 5."""
    host, port = base_url.split("//")[1].split(":")
    start = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(sent)
        # Trickle a byte a second, as slowloris does; the connection closes at the deadline anyway.
        try:
            while time.monotonic() - start < 25:
                if sent.endswith(b"\r\n") and sent.count(b"\r\n\r\n") == 0:
                    sock.sendall(b"X")
                sock.settimeout(1)
                try:
                    if sock.recv(4096) == b"":
                        break
                except socket.timeout:
                    continue
        except (ConnectionResetError, BrokenPipeError):
            pass
    assert time.monotonic() - start < 15

"""Everything besides generation answers clearly: model lookup, tokenize/detokenize, version,
OpenAI error objects for unknown routes and methods, HEAD/OPTIONS, CORS only when enabled,
x-request-id, system_fingerprint, and a 400 for every request field Tessera does not implement."""
import json
import os

import openai
import pytest
import requests
import tokenizers

from conftest import extra_server


def test_model_lookup(client, model):
    assert client.models.retrieve(model).id == model
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("org/other-model")
    assert info.value.body["code"] == "model_not_found"


def test_tokenize_and_detokenize_match_tokenizers(base_url, model, model_dir):
    reference = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    text = "Hello tokenizer world"
    out = requests.post(base_url + "/tokenize", json={"model": model, "prompt": text}, timeout=10).json()
    assert out["tokens"] == reference.encode(text).ids and out["count"] == len(out["tokens"]) and out["max_model_len"] > 0
    plain = requests.post(base_url + "/tokenize", json={"prompt": text, "add_special_tokens": False}, timeout=10).json()
    assert plain["tokens"] == reference.encode(text, add_special_tokens=False).ids
    chat = requests.post(base_url + "/tokenize", json={"messages": [{"role": "user", "content": "hi"}]}, timeout=10).json()
    assert chat["count"] > 2
    back = requests.post(base_url + "/detokenize", json={"model": model, "tokens": plain["tokens"]}, timeout=10).json()
    assert back["prompt"] == reference.decode(plain["tokens"], skip_special_tokens=False)
    bad = requests.post(base_url + "/detokenize", json={"tokens": [10 ** 9]}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tokens"


def test_tokenizer_info_is_the_fixture_tokenizer_config(base_url, model_dir):
    """vLLM's /tokenizer_info, which lm-evaluation-harness probes to tokenize through the server."""
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    info = requests.get(base_url + "/tokenizer_info", timeout=10).json()
    assert info["eos_token"] == config["eos_token"] and info["bos_token"] == config["bos_token"]
    assert info["add_bos_token"] == config.get("add_bos_token", False) and info["model_max_length"] > 0
    assert info["chat_template"] == config["chat_template"] and info["tokenizer_class"]


def test_version(base_url):
    assert requests.get(base_url + "/version", timeout=10).json()["version"]


def test_embeddings_are_refused_clearly(client, model):
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=model, input="hello")
    assert info.value.body["code"] == "model_not_supported" and "embedding" in info.value.body["message"]


def test_unknown_route_is_an_openai_error_naming_it(base_url):
    response = requests.get(base_url + "/v1/responsez", timeout=10)
    assert response.status_code == 404
    error = response.json()["error"]
    assert "/v1/responsez" in error["message"] and "/v1/chat/completions" in error["message"]


def test_wrong_method_is_405_with_allow(base_url):
    response = requests.get(base_url + "/v1/chat/completions", timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, OPTIONS"
    assert "POST" in response.json()["error"]["message"]
    assert requests.delete(base_url + "/v1/models", timeout=10).status_code == 405


def test_head_and_options(base_url):
    head = requests.head(base_url + "/v1/models", timeout=10)
    assert head.status_code == 200 and head.content == b""
    options = requests.options(base_url + "/v1/completions", headers={"Origin": "http://example.com"}, timeout=10)
    assert options.status_code == 204 and options.headers["allow"] == "POST, OPTIONS"
    assert "access-control-allow-origin" not in options.headers  # CORS is off by default


def test_cors_when_enabled(model_dir):
    with extra_server(model_dir, "--allowed-origins", "http://app.example") as base:
        preflight = requests.options(base + "/v1/chat/completions", timeout=10, headers={
            "Origin": "http://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["access-control-allow-headers"] == "content-type, authorization"
        other = requests.get(base + "/v1/models", headers={"Origin": "http://evil.example"}, timeout=10)
        assert "access-control-allow-origin" not in other.headers


def test_request_ids_and_fingerprint(base_url, model, client):
    mine = requests.get(base_url + "/v1/models", headers={"x-request-id": "abc-123"}, timeout=10)
    assert mine.headers["x-request-id"] == "abc-123"
    generated = requests.get(base_url + "/v1/models", timeout=10).headers["x-request-id"]
    assert generated and generated != requests.get(base_url + "/v1/models", timeout=10).headers["x-request-id"]
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    assert raw.headers["x-request-id"]
    out = raw.parse()
    assert out.system_fingerprint and out.choices[0].message.refusal is None


@pytest.mark.parametrize("endpoint, body, param", [
    ("/v1/completions", {"prompt": "a", "suffix": "b"}, "suffix"),
    ("/v1/completions", {"prompt": "a", "best_of": 2}, "best_of"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "a"}], "frequency_penaltyy": 1}, "frequency_penaltyy"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "a"}], "modalities": ["audio"]}, "modalities"),
])
def test_unimplemented_fields_are_named(base_url, model, endpoint, body, param):
    response = requests.post(base_url + endpoint, json={"model": model, "max_tokens": 2, **body}, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and param in error["message"] and error["code"] == "unsupported_parameter"


def test_compatibility_fields_are_accepted(client, model):
    out = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "a"}], max_tokens=2, user="u-1", metadata={"k": "v"}, store=False)
    assert out.choices[0].finish_reason in ("stop", "length")


def test_echo_is_the_prompt_as_sent(client, model):
    out = client.completions.create(model=model, prompt="Once upon", max_tokens=3, temperature=0, echo=True)
    assert out.choices[0].text.startswith("Once upon")


@pytest.mark.skipif(not os.environ.get("TESSERA_E2E_TOPOLOGY"), reason="served without worker processes")
@pytest.mark.parametrize("body", [
    {"max_tokens": 0, "echo": True, "logprobs": 3},
    {"max_tokens": 4, "echo": True, "logprobs": 2, "ignore_eos": True},
    {"max_tokens": 2, "prompt_logprobs": 2, "logprobs": 1},
    {"max_tokens": 0, "prompt_logprobs": 0, "echo": True},
    {"max_tokens": 0, "echo": True, "logprobs": 1, "stream": True},
    {"max_tokens": 3, "prompt_logprobs": 1, "stream": True, "ignore_eos": True},
])
def test_prompt_logprobs_through_workers_equal_a_single_process(base_url, model, model_dir, body):
    """The prefill worker computes the prompt's log-probabilities and the front end relays them:
    the answer equals a single-process server's on the same model (ids, top alternatives, values)."""
    request = {"model": model, "prompt": "The quick brown fox jumps over the lazy dog", "temperature": 0, **body}

    def answer(base):
        response = requests.post(base + "/v1/completions", json=request, stream=bool(body.get("stream")), timeout=120)
        assert response.status_code == 200, response.text
        if not body.get("stream"):
            return [response.json()["choices"]]
        chunks = [json.loads(line[6:]) for line in response.iter_lines(decode_unicode=True) if line.startswith("data: {")]
        return [chunk["choices"] for chunk in chunks]

    def close(a, b, path="$"):
        if isinstance(a, float) and isinstance(b, float):
            assert abs(a - b) < 2e-3, (path, a, b)
        elif isinstance(a, dict) and isinstance(b, dict):
            assert a.keys() == b.keys(), (path, a.keys(), b.keys())
            for key in a:
                close(a[key], b[key], f"{path}.{key}")
        elif isinstance(a, list) and isinstance(b, list):
            assert len(a) == len(b), (path, len(a), len(b))
            for i, (x, y) in enumerate(zip(a, b)):
                close(x, y, f"{path}[{i}]")
        else:
            assert a == b, (path, a, b)

    workers = answer(base_url)
    with extra_server(model_dir) as single:
        close(workers, answer(single))
    assert any(choice.get("prompt_logprobs") or (choice.get("logprobs") or {}).get("token_logprobs")
               for choices in workers for choice in choices)


def _transformers_prompt_logprobs(model_dir, ids):
    import torch
    import transformers
    model = transformers.AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
    return [float(logp[i - 1, ids[i]]) for i in range(1, len(ids))]


@pytest.mark.parametrize("as_tokens", [False, True])
def test_echo_logprobs_match_transformers(client, model, model_dir, as_tokens):
    """What lm-evaluation-harness's log-likelihood requests ask: echo, logprobs, max_tokens 0."""
    text = "The quick brown fox jumps over the lazy dog"
    ids = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode(text).ids
    expected = _transformers_prompt_logprobs(model_dir, ids)
    for _ in range(2):  # the second time the prompt is in the prefix cache, which such requests bypass
        out = client.completions.create(
            model=model, prompt=ids if as_tokens else text, max_tokens=0, echo=True, logprobs=1, temperature=0)
        choice = out.choices[0]
        if not as_tokens:
            assert choice.text == text
        lp = choice.logprobs
        assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
        assert len(lp.token_logprobs) == len(ids) and choice.finish_reason == "length"
        assert max(abs(a - b) for a, b in zip(lp.token_logprobs[1:], expected)) < 2e-3
        assert out.usage.completion_tokens == 0


def test_echo_logprobs_with_generation_and_vllm_prompt_logprobs(client, model, model_dir):
    text = "Once upon a time"
    ids = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json")).encode(text).ids
    expected = _transformers_prompt_logprobs(model_dir, ids)
    out = client.completions.create(
        model=model, prompt=text, max_tokens=3, echo=True, logprobs=2, temperature=0, extra_body={"ignore_eos": True})
    lp = out.choices[0].logprobs
    assert len(lp.tokens) == len(ids) + 3 and lp.token_logprobs[0] is None
    assert max(abs(a - b) for a, b in zip(lp.token_logprobs[1:len(ids)], expected)) < 2e-3
    raw = client.completions.with_raw_response.create(
        model=model, prompt=text, max_tokens=1, temperature=0, extra_body={"prompt_logprobs": 1})
    prompt_logprobs = raw.http_response.json()["choices"][0]["prompt_logprobs"]
    assert prompt_logprobs[0] is None and len(prompt_logprobs) == len(ids)
    for i, entry in enumerate(prompt_logprobs[1:], start=1):
        assert abs(entry[str(ids[i])]["logprob"] - expected[i - 1]) < 2e-3

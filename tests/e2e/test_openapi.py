"""/openapi.json is kept true: the requests the other e2e files send and the document's own
examples validate against its request schemas, and the server's answers to them against its
answer schemas."""
import json
import os

import jsonschema
import pytest
import requests


@pytest.fixture(scope="module")
def document(base_url):
    response = requests.get(base_url + "/openapi.json", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    return response.json()


def _validator(document, schema):
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def _request_schema(document, path):
    return document["paths"][path]["post"]["requestBody"]["content"]["application/json"]


def _answer_schema(document, path, status):
    return document["paths"][path]["post"]["responses"][str(status)]["content"]["application/json"]["schema"]


# Requests as test_completions.py, test_structured_outputs.py, test_tools.py and test_responses.py send them.
SUITE_REQUESTS = {
    "/v1/chat/completions": [
        {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5, "temperature": 0, "seed": 3},
        {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "logprobs": True, "top_logprobs": 3, "n": 2},
        {"messages": [{"role": "user", "content": "Go"}], "max_tokens": 12, "response_format": {"type": "json_object"}},
        {"messages": [{"role": "user", "content": "Go"}], "max_tokens": 12, "guided_choice": ["yes", "no"], "ignore_eos": True},
        {"messages": [{"role": "user", "content": "Call"}], "max_tokens": 30, "parallel_tool_calls": False,
         "tool_choice": {"type": "function", "function": {"name": "f"}},
         "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"}], "max_completion_tokens": 3},
    ],
    "/v1/completions": [
        {"prompt": "Hello", "max_tokens": 4, "temperature": 0},
        {"prompt": [[1, 450], [1, 903]], "max_tokens": 2, "logit_bias": {"450": 5}},
        {"prompt": "x", "max_tokens": 3, "top_k": -1, "min_p": 0.1, "presence_penalty": 0.5, "frequency_penalty": -0.5},
    ],
    "/v1/responses": [
        {"input": "Hello", "max_output_tokens": 4, "temperature": 0, "top_p": 0.9, "seed": 1},
        {"input": "Hi", "max_output_tokens": 16, "text": {"format": {"type": "json_schema", "name": "o", "schema": {"type": "object"}}}},
    ],
}


@pytest.mark.parametrize("path", sorted(SUITE_REQUESTS))
def test_requests_and_answers_follow_the_document(document, base_url, model, path):
    request_schema = _request_schema(document, path)
    answer = _validator(document, _answer_schema(document, path, 200))
    bodies = [dict(body, model=model) for body in SUITE_REQUESTS[path]]
    bodies += [example["value"] for example in request_schema.get("examples", {}).values()]
    validator = _validator(document, request_schema["schema"])
    for body in bodies:
        validator.validate(body)
        if body.get("stream"):
            continue
        response = requests.post(base_url + path, json=body, timeout=120)
        if response.status_code == 400:
            message = response.json()["error"]["message"]
            # The example's image sent to a text-only model; prompt log-probabilities through worker processes.
            if "image_url" in json.dumps(body) and "image" in message or os.environ.get("TESSERA_E2E_TOPOLOGY") and "--topology" in message:
                continue
        assert response.status_code == 200, (body, response.text)
        answer.validate(response.json())


def test_the_schemas_refuse_what_the_server_refuses(document, base_url, model):
    validator = _validator(document, _request_schema(document, "/v1/chat/completions")["schema"])
    good = {"model": model, "messages": [{"role": "user", "content": "Hi"}]}
    for bad in ({"messages": good["messages"]}, {**good, "model": "other"}, {**good, "temperature": -1},
                {**good, "unknown_field": 1}, {**good, "messages": []}, {**good, "top_p": 0}):
        assert not validator.is_valid(bad), bad
        response = requests.post(base_url + "/v1/chat/completions", json=bad, timeout=30)
        assert response.status_code in (400, 404), (bad, response.text)
        _validator(document, {"$ref": "#/components/schemas/ErrorResponse"}).validate(response.json())

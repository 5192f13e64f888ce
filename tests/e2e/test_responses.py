"""OpenAI's Responses API (text and image input) through the official client, on the same engine."""
import base64
import json
import os

import openai
import pytest


def _image_url():
    with open(os.path.join(os.environ["TESSERA_FIXTURES"], "images", "good", "gradient.png"), "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode()


def test_create_matches_chat(client, model):
    out = client.responses.create(model=model, input="Hello there", max_output_tokens=6, temperature=0)
    chat = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hello there"}], max_tokens=6, temperature=0)
    assert out.object == "response" and out.id.startswith("resp_")
    assert out.output_text == chat.choices[0].message.content
    assert out.usage.input_tokens == chat.usage.prompt_tokens and out.usage.output_tokens == chat.usage.completion_tokens
    assert out.status in ("completed", "incomplete")


def test_instructions_messages_and_json_schema(client, model):
    out = client.responses.create(
        model=model, instructions="Answer in JSON.", max_output_tokens=60, temperature=0,
        input=[{"role": "user", "content": [{"type": "input_text", "text": "ok?"}]}],
        text={"format": {"type": "json_schema", "name": "ok", "schema": {
            "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}})
    assert json.loads(out.output_text)["ok"] in (True, False)


def test_streaming_events(client, model):
    whole = client.responses.create(model=model, input="Stream me", max_output_tokens=8, temperature=0)
    types, text, final = [], "", None
    for event in client.responses.create(model=model, input="Stream me", max_output_tokens=8, temperature=0, stream=True):
        types.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
        if event.type in ("response.completed", "response.incomplete"):
            final = event.response
    assert types[0] == "response.created" and types[-1] in ("response.completed", "response.incomplete")
    assert "response.output_text.done" in types
    assert text == whole.output_text == final.output_text


def test_image_input_on_a_text_model_is_a_clear_error(client, model):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=model, max_output_tokens=4, input=[{"role": "user", "content": [
            {"type": "input_image", "image_url": _image_url()}, {"type": "input_text", "text": "What?"}]}])
    assert "image" in info.value.body["message"]


def test_unsupported_inputs_are_named(client, model):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=model, input="x", previous_response_id="resp_1")
    assert info.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=model, input=[{"type": "function_call_output", "role": "tool", "content": "1"}])
    assert "input[0].type" in info.value.body["param"]


def test_image_input_on_a_vision_language_model(model_dir):
    from conftest import extra_server
    vlm = model_dir.parent / "llava-tiny"
    with extra_server(vlm) as base:
        vlm_client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120)
        content = [{"type": "input_image", "image_url": _image_url()}, {"type": "input_text", "text": "What is this?"}]
        out = vlm_client.responses.create(model="llava-tiny", input=[{"role": "user", "content": content}],
                                          max_output_tokens=5, temperature=0)
        chat = vlm_client.chat.completions.create(model="llava-tiny", max_tokens=5, temperature=0, messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": _image_url()}},
                                         {"type": "text", "text": "What is this?"}]}])
        assert out.output_text == chat.choices[0].message.content
        text_only = vlm_client.responses.create(model="llava-tiny", input="What is this?", max_output_tokens=1)
        # The image's tokens are in the prompt.
        assert out.usage.input_tokens == chat.usage.prompt_tokens > text_only.usage.input_tokens + 1

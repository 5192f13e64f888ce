"""OpenAI's Responses API (text and image input) through the official client, on the same engine."""
import base64
import json
import os

import openai
import pytest


# Function tools as the Responses API defines them: flat, no nested `function` object.
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather.", "strict": True, "parameters": {
    "type": "object", "additionalProperties": False, "required": ["city", "unit"],
    "properties": {"city": {"type": "string", "maxLength": 8}, "unit": {"enum": ["celsius", "fahrenheit"]}}}}
TIME = {"type": "function", "name": "get_time", "strict": True, "parameters": {
    "type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"], "additionalProperties": False}}
NAMED = {"type": "function", "name": "get_weather"}


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


@pytest.mark.parametrize("body, param", [
    ({"input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
    ({"input": [{"type": "reasoning", "summary": []}]}, "input[0].type"),
    ({"input": [{"type": "function_call_output", "output": "1"}]}, "input[0].call_id"),
    ({"input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]}, "input[0].name"),
    ({"input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
    ({"input": "x", "tool_choice": "required"}, "tool_choice"),
    ({"input": "x", "tools": [WEATHER], "tool_choice": "required", "text": {"format": {"type": "json_object"}}}, "tool_choice"),
])
def test_unsupported_inputs_are_named(client, model, body, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=model, max_output_tokens=4, **body)
    assert info.value.body["param"] == param, info.value.body


def check_weather_call(item):
    assert item.type == "function_call" and item.call_id.startswith("call_") and item.id.startswith("fc_")
    assert item.name == "get_weather" and item.status == "completed"
    args = json.loads(item.arguments)
    assert set(args) == {"city", "unit"} and args["unit"] in ("celsius", "fahrenheit") and len(args["city"]) <= 8


@pytest.mark.parametrize("seed", [0, 1])
def test_named_tool_choice_gives_a_function_call_item(hermes_client, model, seed):
    out = hermes_client.responses.create(
        model=model, input="Weather?", tools=[WEATHER, TIME], tool_choice=NAMED, temperature=1, max_output_tokens=80, extra_body={"seed": seed})
    assert out.status == "completed" and out.output_text == ""
    assert [item.type for item in out.output] == ["function_call"]
    check_weather_call(out.output[0])
    assert out.tool_choice.name == "get_weather" and [tool.name for tool in out.tools] == ["get_weather", "get_time"]


@pytest.mark.parametrize("parallel", [True, False])
def test_required_tool_choice(hermes_client, model, parallel):
    out = hermes_client.responses.create(
        model=model, input="Weather and time?", tools=[WEATHER, TIME], tool_choice="required", temperature=1, extra_body={"seed": 7},
        max_output_tokens=100, parallel_tool_calls=parallel)
    calls = [item for item in out.output if item.type == "function_call"]
    assert len(calls) == len(out.output) >= 1 and (parallel or len(calls) == 1)
    assert len({call.call_id for call in calls}) == len(calls)
    for call in calls:
        assert call.name in ("get_weather", "get_time") and isinstance(json.loads(call.arguments), dict)


def test_streamed_function_call_events(hermes_client, model):
    """The events OpenAI streams for a call: the item added with its name and empty arguments, argument
    fragments, then arguments done and the item done; the SDK's assembly equals the non-streamed answer."""
    request = dict(model=model, input="Weather?", tools=[WEATHER], tool_choice=NAMED, temperature=1, max_output_tokens=80, extra_body={"seed": 3})
    whole = hermes_client.responses.create(**request)
    events = list(hermes_client.responses.create(**request, stream=True))
    types = [event.type for event in events]
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert types[-3:] == ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    assert set(types[3:-3]) == {"response.function_call_arguments.delta"} and len(types[3:-3]) > 3
    added, done, final = events[2], events[-3], events[-1].response
    assert added.item.type == "function_call" and added.item.name == "get_weather" and added.item.arguments == ""
    assert added.item.status == "in_progress" and added.output_index == 0
    arguments = "".join(event.delta for event in events if event.type == "response.function_call_arguments.delta")
    assert arguments == done.arguments == final.output[0].arguments == whole.output[0].arguments
    assert all(event.item_id == added.item.id for event in events[3:-2])
    assert [event.sequence_number for event in events] == list(range(len(events)))
    check_weather_call(final.output[0])
    with hermes_client.responses.stream(**request) as stream:
        assembled = stream.get_final_response()
    assert [(i.type, i.name, i.arguments) for i in assembled.output] == [(i.type, i.name, i.arguments) for i in whole.output]


def test_function_call_round_trip(hermes_client, model):
    """Call a tool, send the call and its output back as input items, get an answer: the conversation
    renders as the equivalent chat completion's does (same prompt tokens, same greedy answer)."""
    first = hermes_client.responses.create(
        model=model, input="Weather in Oslo?", tools=[WEATHER], tool_choice=NAMED, temperature=0, max_output_tokens=80)
    call = first.output[0]
    history = [{"role": "user", "content": "Weather in Oslo?"}, call.model_dump(exclude_none=True),
               {"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"temp": 3})}]
    answer = hermes_client.responses.create(model=model, input=history, tools=[WEATHER], max_output_tokens=8, temperature=0)
    assert answer.status in ("completed", "incomplete") and answer.output[0].type == "message"
    chat = hermes_client.chat.completions.create(
        model=model, max_tokens=8, temperature=0, tools=[{"type": "function", "function": {
            k: WEATHER[k] for k in ("name", "description", "parameters")}}],
        messages=[{"role": "user", "content": "Weather in Oslo?"},
                  {"role": "assistant", "content": None, "tool_calls": [
                      {"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}]},
                  {"role": "tool", "tool_call_id": call.call_id, "content": json.dumps({"temp": 3})}])
    assert answer.usage.input_tokens == chat.usage.prompt_tokens > first.usage.input_tokens
    assert answer.output_text == (chat.choices[0].message.content or "")


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

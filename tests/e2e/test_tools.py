"""Tool calling through the openai client: forced calls are always valid (the grammar makes them),
tool-call histories render with a tool-aware Hermes-style template (via --chat-template; Qwen2.5's
own template is checked against transformers in ToolCallingTests), and an agent loop runs end to end."""
import json

import openai
import pytest
from weather_tool import WEATHER, check_weather_arguments

TIME = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"]}}}


@pytest.fixture(scope="module")
def qwen_model(model):
    return model


@pytest.fixture(scope="module")
def qwen_client(hermes_client):
    return hermes_client


def user(text):
    return [{"role": "user", "content": text}]


def check_weather_call(call):
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    check_weather_arguments(call.function.arguments)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_named_tool_choice_always_gives_a_valid_call(qwen_client, qwen_model, seed):
    model = qwen_model
    out = qwen_client.chat.completions.create(
        model=model, messages=user("Weather?"), tools=[WEATHER, TIME], seed=seed, temperature=1, max_tokens=80,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None and choice.message.refusal is None
    assert len(choice.message.tool_calls) == 1
    check_weather_call(choice.message.tool_calls[0])


@pytest.mark.parametrize("parallel", [True, False])
def test_required_tool_choice(qwen_client, qwen_model, parallel):
    model = qwen_model
    out = qwen_client.chat.completions.create(
        model=model, messages=user("Weather and time?"), tools=[WEATHER, TIME], tool_choice="required", temperature=1,
        seed=7, max_tokens=100, parallel_tool_calls=parallel)
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert len(calls) >= 1 and (parallel or len(calls) == 1)
    for call in calls:
        assert call.function.name in ("get_weather", "get_time")
        assert isinstance(json.loads(call.function.arguments), dict)


def test_auto_and_none_answer_in_text_from_a_random_model(qwen_client, qwen_model):
    model = qwen_model
    for choice in ("auto", "none"):
        out = qwen_client.chat.completions.create(
            model=model, messages=user("Hi"), tools=[WEATHER], tool_choice=choice, temperature=0, max_tokens=8)
        assert out.choices[0].message.tool_calls is None
        assert out.choices[0].finish_reason in ("stop", "length")


def test_streamed_tool_call(qwen_client, qwen_model):
    model = qwen_model
    stream = qwen_client.chat.completions.create(
        model=model, messages=user("Weather?"), tools=[WEATHER], stream=True, temperature=1, seed=3, max_tokens=80,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    name, arguments, finish, ids = "", "", None, set()
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                assert delta.index == 0
                ids.add(delta.id)
                name += delta.function.name or ""
                arguments += delta.function.arguments or ""
            finish = choice.finish_reason or finish
    assert finish == "tool_calls" and name == "get_weather" and len(ids - {None}) == 1
    assert set(json.loads(arguments)) == {"city", "unit"}


# A Hermes-style answer with text and two calls, forced by a grammar so that the random-weight fixture
# writes it (in `auto` mode the server reads the model's own text; nothing in the request names a tool).
HERMES_ANSWER = r'''
root  ::= "Checking." ws callw ws callt
callw ::= "<tool_call>" ws "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"" [a-z]{1,8} "\", \"unit\": \"" ("celsius" | "fahrenheit") "\"}}" ws "</tool_call>"
callt ::= "<tool_call>" ws "{\"name\": \"get_time\", \"arguments\": {\"zone\": \"" ("UTC" | "CET") "\"}}" ws "</tool_call>"
ws    ::= [ \n]?
'''


def test_auto_tool_calls_stream_token_by_token(qwen_client, qwen_model):
    """`auto` mode streams calls as OpenAI does: the text before them as content, then per call a first
    delta with id, type and name and argument fragments after it; the openai client's assembly of the
    stream equals the non-streamed answer."""
    request = dict(model=qwen_model, messages=user("Weather and time?"), tools=[WEATHER, TIME], tool_choice="auto",
                   temperature=1, seed=11, max_tokens=190, extra_body={"guided_grammar": HERMES_ANSWER})
    whole = qwen_client.chat.completions.create(**request).choices[0]
    assert whole.finish_reason == "tool_calls" and whole.message.content == "Checking."
    assert [call.function.name for call in whole.message.tool_calls] == ["get_weather", "get_time"]
    check_weather_call(whole.message.tool_calls[0])
    assert json.loads(whole.message.tool_calls[1].function.arguments)["zone"] in ("UTC", "CET")

    chunks = list(qwen_client.chat.completions.create(**request, stream=True))
    deltas = [delta for chunk in chunks for choice in chunk.choices for delta in choice.delta.tool_calls or []]
    for index, name in enumerate(["get_weather", "get_time"]):
        mine = [delta for delta in deltas if delta.index == index]
        assert mine[0].id and mine[0].type == "function" and mine[0].function.name == name
        assert all(delta.id is None and delta.function.name is None for delta in mine[1:])
        assert len([delta for delta in mine if delta.function.arguments]) > 3  # fragments, not one piece
    content = "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)
    assert content == "Checking."
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    with qwen_client.chat.completions.stream(**request) as stream:
        final = stream.get_final_completion().choices[0]
    assert final.finish_reason == "tool_calls" and final.message.content == "Checking."
    assert [(c.function.name, c.function.arguments) for c in final.message.tool_calls] == \
        [(c.function.name, c.function.arguments) for c in whole.message.tool_calls]


def test_agent_loop_round_trip(qwen_client, qwen_model, client, model):
    """Call a tool, send its result back, get an answer — with Qwen2.5's template and with the fixture's own."""
    first = qwen_client.chat.completions.create(
        model=qwen_model, messages=user("Weather in Oslo?"), tools=[WEATHER], max_tokens=80, temperature=0,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    call = first.choices[0].message.tool_calls[0]
    history = user("Weather in Oslo?") + [
        first.choices[0].message.model_dump(exclude_none=True) | {"content": None},
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp": 3})},
    ]
    for c, name in ((qwen_client, qwen_model), (client, model)):
        answer = c.chat.completions.create(model=name, messages=history, tools=[WEATHER], max_tokens=8, temperature=0)
        assert answer.choices[0].finish_reason in ("stop", "length")
        assert answer.choices[0].message.tool_calls is None


@pytest.mark.parametrize("body, param", [
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": [{"type": "retrieval", "function": {"name": "x"}}]}, "tools[0].type"),
    ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
    ({"tools": [WEATHER], "tool_choice": "required", "response_format": {"type": "json_object"}}, "tool_choice"),
])
def test_tool_errors_name_the_field(client, model, body, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=user("x"), max_tokens=4, extra_body=body)
    assert info.value.body["param"] == param, info.value.body

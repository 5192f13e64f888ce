"""LiteLLM's `completion` with the server as an OpenAI-compatible provider (`openai/<model>` with
`api_base`): plain and streamed text, forced tool calls, and `response_format` (a JSON Schema and a
Pydantic model), which the random-weight fixture meets only because the grammar forces it."""
import json
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the price list at import

import litellm
import pytest

from weather_tool import WEATHER, Weather, check_weather_arguments


@pytest.fixture(scope="module")
def complete(base_url, model):
    def call(**kwargs):
        return litellm.completion(
            model="openai/" + model, api_base=base_url + "/v1", api_key="unused", num_retries=0, timeout=120,
            **{"messages": [{"role": "user", "content": "Weather in Oslo?"}], **kwargs})
    return call


def test_plain_completion(complete):
    out = complete(max_tokens=6, temperature=0)
    choice = out.choices[0]
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert out.usage.completion_tokens <= 6 and out.usage.prompt_tokens > 0


def test_streamed_completion_equals_the_plain_one(complete):
    plain = complete(max_tokens=8, temperature=0).choices[0].message.content
    chunks = list(complete(max_tokens=8, temperature=0, stream=True, stream_options={"include_usage": True}))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == plain
    built = litellm.stream_chunk_builder(chunks)
    assert built.choices[0].message.content == plain and built.usage.completion_tokens <= 8


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_forced_tool_call(complete, tool_choice):
    out = complete(tools=[WEATHER], tool_choice=tool_choice, parallel_tool_calls=False, max_tokens=80, temperature=1, seed=5)
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and call.id
    check_weather_arguments(call.function.arguments)


def test_streamed_forced_tool_call(complete):
    chunks = list(complete(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}},
                           max_tokens=80, temperature=1, seed=6, stream=True))
    built = litellm.stream_chunk_builder(chunks)
    choice = built.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    check_weather_arguments(call.function.arguments)


def test_tool_result_round_trip(complete):
    first = complete(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False, max_tokens=80, temperature=0)
    message = first.choices[0].message
    call = message.tool_calls[0]
    history = [{"role": "user", "content": "Weather in Oslo?"},
               {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
               {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 3})}]
    answer = complete(messages=history, tools=[WEATHER], max_tokens=6, temperature=0)
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert isinstance(answer.choices[0].message.content, str)


def test_response_format_json_schema(complete):
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 8},
                                               "unit": {"enum": ["celsius", "fahrenheit"]}},
              "required": ["city", "unit"], "additionalProperties": False}
    out = complete(response_format={"type": "json_schema", "json_schema": {"name": "weather", "schema": schema, "strict": True}},
                   max_tokens=60, temperature=1, seed=2)
    check_weather_arguments(out.choices[0].message.content)


def test_response_format_pydantic_model(complete):
    out = complete(response_format=Weather, max_tokens=60, temperature=1, seed=3)
    weather = Weather.model_validate_json(out.choices[0].message.content)
    assert weather.unit in ("celsius", "fahrenheit")


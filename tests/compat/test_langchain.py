"""LangChain's `ChatOpenAI` (langchain-openai) pointed at the server: `invoke`, `stream`, `bind_tools`
with forced and automatic tool choice, and `with_structured_output` with a Pydantic model by each of
its methods (JSON Schema response format, function calling, JSON mode)."""
import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI

from weather_tool import WEATHER, Weather, check_weather_arguments


@pytest.fixture(scope="module")
def chat(base_url, model):
    def make(**kwargs):
        return ChatOpenAI(model=model, base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=120, **kwargs)
    return make


def test_invoke(chat):
    out = chat(max_tokens=6, temperature=0).invoke("Hello there")
    assert isinstance(out, AIMessage) and isinstance(out.content, str) and out.content
    assert out.response_metadata["finish_reason"] in ("stop", "length")
    assert out.usage_metadata["output_tokens"] <= 6


def test_stream_equals_invoke(chat):
    llm = chat(max_tokens=8, temperature=0)
    whole = llm.invoke("Hello there").content
    pieces = list(llm.stream("Hello there"))
    assert "".join(piece.content for piece in pieces) == whole
    assert len([piece for piece in pieces if piece.content]) > 1


@pytest.mark.parametrize("tool_choice", ["get_weather", "any", "required"])
def test_bind_tools_forced(chat, tool_choice):
    llm = chat(max_tokens=80, temperature=1, seed=4).bind_tools([WEATHER], tool_choice=tool_choice, parallel_tool_calls=False)
    out = llm.invoke("Weather in Oslo?")
    (call,) = out.tool_calls
    assert call["name"] == "get_weather" and call["id"]
    check_weather_arguments(call["args"])
    assert out.response_metadata["finish_reason"] == "tool_calls"


def test_bind_tools_streamed(chat):
    llm = chat(max_tokens=80, temperature=1, seed=8).bind_tools([WEATHER], tool_choice="get_weather")
    message = None
    for piece in llm.stream("Weather in Oslo?"):
        message = piece if message is None else message + piece
    (call,) = message.tool_calls
    assert call["name"] == "get_weather"
    check_weather_arguments(call["args"])


def test_agent_loop(chat):
    """Tool call, tool result, answer: the history LangChain builds renders and is answered."""
    llm = chat(max_tokens=80, temperature=0)
    question = HumanMessage("Weather in Oslo?")
    first = llm.bind_tools([WEATHER], tool_choice="get_weather").invoke([question])
    call = first.tool_calls[0]
    result = ToolMessage(json.dumps({"temperature": 3}), tool_call_id=call["id"])
    answer = chat(max_tokens=6, temperature=0).bind_tools([WEATHER]).invoke([question, first, result])
    assert isinstance(answer.content, str) and not answer.tool_calls


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_with_structured_output(chat, method):
    llm = chat(max_tokens=80, temperature=1, seed=9).with_structured_output(Weather, method=method, include_raw=True)
    out = llm.invoke("Weather in Oslo?")
    assert out["parsing_error"] is None, out
    weather = out["parsed"]
    assert isinstance(weather, Weather) and len(weather.city) <= 8


def test_with_structured_output_json_mode(chat):
    """JSON mode gives any JSON object; it parses whenever the model closes it within max_tokens."""
    out = chat(max_tokens=60, temperature=0).with_structured_output(None, method="json_mode", include_raw=True).invoke(
        "Weather in Oslo as JSON?")
    raw = out["raw"].content
    assert raw.startswith("{")
    if out["raw"].response_metadata["finish_reason"] == "stop":
        assert isinstance(out["parsed"], dict)

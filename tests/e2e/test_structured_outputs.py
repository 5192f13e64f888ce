"""Structured outputs through the openai client: every answer of the random-weight fixture parses
and validates, because the grammar mask, not the model, makes it so."""
import json
import re

import openai
import pydantic
import pytest


class Step(pydantic.BaseModel):
    explanation: str = pydantic.Field(max_length=6)
    ok: bool


class Plan(pydantic.BaseModel):
    steps: list[Step] = pydantic.Field(max_length=2)
    priority: int


def chat(text):
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parse_with_a_pydantic_model(client, model, seed):
    out = client.chat.completions.parse(
        model=model, messages=chat("Plan it."), response_format=Plan, max_tokens=200, seed=seed, temperature=1)
    choice = out.choices[0]
    if choice.finish_reason == "stop":
        assert isinstance(choice.message.parsed, Plan)
        assert len(choice.message.parsed.steps) <= 2
    else:
        assert choice.finish_reason == "length"


def test_json_schema_strict(client, model):
    schema = {
        "type": "object", "additionalProperties": False, "required": ["color", "count"],
        "properties": {"color": {"enum": ["red", "green", "blue"]}, "count": {"type": "integer"},
                       "note": {"type": "string", "maxLength": 4}},
    }
    for seed in range(4):
        out = client.chat.completions.create(
            model=model, messages=chat("Describe."), max_tokens=120, seed=seed, temperature=1,
            response_format={"type": "json_schema", "json_schema": {"name": "thing", "schema": schema, "strict": True}})
        choice = out.choices[0]
        assert choice.finish_reason == "stop", choice.message.content
        value = json.loads(choice.message.content)
        assert value["color"] in ("red", "green", "blue") and isinstance(value["count"], int)
        assert set(value) <= {"color", "count", "note"} and len(value.get("note", "")) <= 4


def test_json_object(client, model):
    out = client.chat.completions.create(
        model=model, messages=chat("JSON please."), max_tokens=60, temperature=0,
        response_format={"type": "json_object"})
    text = out.choices[0].message.content
    assert text.startswith("{")
    if out.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)


def test_streamed_json_schema_is_the_same_text(client, model):
    fmt = {"type": "json_schema", "json_schema": {"name": "b", "schema": {
        "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}}
    whole = client.chat.completions.create(
        model=model, messages=chat("ok?"), max_tokens=20, temperature=0, response_format=fmt)
    stream = client.chat.completions.create(
        model=model, messages=chat("ok?"), max_tokens=20, temperature=0, response_format=fmt, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == whole.choices[0].message.content
    assert json.loads(text)["ok"] in (True, False)


def test_vllm_guided_fields_on_both_endpoints(client, model):
    out = client.completions.create(
        model=model, prompt="Sentiment:", max_tokens=10, temperature=1, seed=3,
        extra_body={"guided_choice": ["positive", "negative"]})
    assert out.choices[0].text in ("positive", "negative")
    assert out.choices[0].finish_reason == "stop"
    out = client.chat.completions.create(
        model=model, messages=chat("Phone?"), max_tokens=20, temperature=1, seed=4,
        extra_body={"guided_regex": r"\d{3}-\d{4}"})
    assert re.fullmatch(r"\d{3}-\d{4}", out.choices[0].message.content)
    out = client.completions.create(
        model=model, prompt="List:", max_tokens=40, temperature=1, seed=5,
        extra_body={"guided_grammar": 'root ::= item ("," item)*\nitem ::= "a" | "b"'})
    assert re.fullmatch(r"[ab](,[ab])*", out.choices[0].text)
    out = client.completions.create(
        model=model, prompt="Num:", max_tokens=40, temperature=1, seed=6,
        extra_body={"guided_json": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}})
    if out.choices[0].finish_reason == "stop":
        assert all(isinstance(v, int) for v in json.loads(out.choices[0].text))


def test_logit_bias_changes_the_output(client, model, model_dir):
    import tokenizers
    tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    x = tokenizer.encode("x", add_special_tokens=False).ids[-1]
    base = client.completions.create(model=model, prompt="Hello", max_tokens=4, temperature=0, extra_body={"ignore_eos": True})
    biased = client.completions.create(
        model=model, prompt="Hello", max_tokens=4, temperature=0, logit_bias={str(x): 100}, extra_body={"ignore_eos": True})
    assert base.choices[0].text != biased.choices[0].text
    assert biased.choices[0].text.replace(" ", "") == "xxxx"


@pytest.mark.parametrize("body, param, fragment", [
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer", "minimum": 1}}}},
     "response_format", "'minimum'"),
    ({"response_format": {"type": "xml"}}, "response_format.type", "json_schema"),
    ({"guided_regex": "(ab"}, "guided_regex", "missing ')'"),
    ({"guided_grammar": "root ::= missing"}, "guided_grammar", "undefined rule 'missing'"),
    ({"guided_choice": ["a"], "guided_regex": "a"}, "guided_choice", "only one of"),
    ({"logit_bias": {"99999999": 5}}, "logit_bias", "token ids"),
    ({"logit_bias": {"1": 500}}, "logit_bias", "[-100, 100]"),
])
def test_structured_output_errors_name_the_field(client, model, body, param, fragment):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=chat("x"), max_tokens=4, extra_body=body)
    error = info.value.body
    assert error["param"] == param and fragment in error["message"], error

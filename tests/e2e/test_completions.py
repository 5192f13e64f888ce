"""Text completions and chat against transformers' greedy references, through the openai client."""
import asyncio
import math

import pytest


def test_models_lists_the_served_model(client, model):
    models = client.models.list()
    assert [m.id for m in models.data] == [model]


def test_greedy_completion_matches_transformers(client, model, reference):
    for case in reference["prompts"]:
        out = client.completions.create(
            model=model, prompt=case["text"], max_tokens=len(case["greedy_token_ids"]), temperature=0,
            extra_body={"ignore_eos": True})
        choice = out.choices[0]
        assert out.object == "text_completion"
        assert choice.text == case["greedy_text"]
        assert choice.finish_reason == "length"
        assert out.usage.prompt_tokens == len(case["prompt_token_ids"])
        assert out.usage.completion_tokens == len(case["greedy_token_ids"])
        assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens


def test_token_id_prompt_gives_the_same_text(client, model, reference):
    case = reference["prompts"][0]
    out = client.completions.create(
        model=model, prompt=case["prompt_token_ids"], max_tokens=len(case["greedy_token_ids"]), temperature=0,
        extra_body={"ignore_eos": True})
    assert out.choices[0].text == case["greedy_text"]


def test_completion_logprobs_match_transformers(client, model, reference):
    case = reference["prompts"][0]
    steps = len(case["top_logprobs"])
    out = client.completions.create(
        model=model, prompt=case["text"], max_tokens=steps, temperature=0, logprobs=3, extra_body={"ignore_eos": True})
    logprobs = out.choices[0].logprobs
    assert len(logprobs.tokens) == len(logprobs.token_logprobs) == len(logprobs.top_logprobs) == steps
    assert logprobs.text_offset[0] == 0
    for got, want in zip(logprobs.token_logprobs, case["top_logprobs"]):
        assert math.isclose(got, want[0]["logprob"], abs_tol=1e-3)
    for top in logprobs.top_logprobs:
        assert 1 <= len(top) <= 3


def test_chat_logprobs_report_the_chosen_token_first(client, model):
    out = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hello"}], max_tokens=5, temperature=0, logprobs=True,
        top_logprobs=2)
    content = out.choices[0].logprobs.content
    assert len(content) == out.usage.completion_tokens
    for entry in content:
        assert len(entry.top_logprobs) == 2
        assert math.isclose(entry.logprob, entry.top_logprobs[0].logprob, abs_tol=1e-5)
        assert entry.bytes == list(entry.token.encode())
    assert "".join(e.token for e in content).startswith(out.choices[0].message.content[:1])


def test_chat_completion_shape_and_usage(client, model):
    out = client.chat.completions.create(
        model=model, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        max_completion_tokens=6, temperature=0, extra_body={"ignore_eos": True})
    assert out.object == "chat.completion"
    assert out.id.startswith("chatcmpl-")
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].finish_reason == "length"
    assert out.usage.completion_tokens == 6
    assert out.usage.prompt_tokens_details.cached_tokens >= 0
    # The same prompt again reuses its cached prefix.
    again = client.chat.completions.create(
        model=model, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        max_completion_tokens=6, temperature=0, extra_body={"ignore_eos": True})
    assert again.choices[0].message.content == out.choices[0].message.content


def test_streaming_chat_equals_the_whole_answer(client, model):
    messages = [{"role": "user", "content": "Tell me a story"}]
    whole = client.chat.completions.create(model=model, messages=messages, max_tokens=12, temperature=0)
    stream = client.chat.completions.create(
        model=model, messages=messages, max_tokens=12, temperature=0, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_streaming_completion_without_usage(client, model, reference):
    case = reference["prompts"][0]
    stream = client.completions.create(
        model=model, prompt=case["text"], max_tokens=len(case["greedy_token_ids"]), temperature=0, stream=True,
        extra_body={"ignore_eos": True})
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks) == case["greedy_text"]
    assert all(c.usage is None for c in chunks)


def test_n_choices_and_seeded_sampling(client, model):
    out = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], n=3, max_tokens=8, temperature=1.0, seed=7,
        extra_body={"ignore_eos": True})
    assert [c.index for c in out.choices] == [0, 1, 2]
    assert out.usage.completion_tokens == 24
    again = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], n=3, max_tokens=8, temperature=1.0, seed=7,
        extra_body={"ignore_eos": True})
    assert [c.message.content for c in again.choices] == [c.message.content for c in out.choices]
    assert len({c.message.content for c in out.choices}) > 1


def test_stop_string_cuts_the_text(client, model, reference):
    case = reference["prompts"][0]
    text = case["greedy_text"]
    stop = text[4:7]
    out = client.completions.create(
        model=model, prompt=case["text"], max_tokens=len(case["greedy_token_ids"]), temperature=0, stop=[stop],
        extra_body={"ignore_eos": True})
    assert out.choices[0].text == text[: text.index(stop)]
    assert out.choices[0].finish_reason == "stop"


def test_concurrent_greedy_requests_equal_single_ones(async_client, client, model, reference):
    prompts = [case["text"] for case in reference["prompts"]] + ["Hello there", "Once upon a time", "1 2 3 4"]
    single = [
        client.completions.create(model=model, prompt=p, max_tokens=10, temperature=0, extra_body={"ignore_eos": True})
        .choices[0].text for p in prompts]

    async def run_all():
        calls = [
            async_client.completions.create(
                model=model, prompt=p, max_tokens=10, temperature=0, extra_body={"ignore_eos": True})
            for p in prompts for _ in range(2)]
        return await asyncio.gather(*calls)

    results = asyncio.run(run_all())
    assert [r.choices[0].text for r in results] == [s for s in single for _ in range(2)]

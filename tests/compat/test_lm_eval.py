"""lm-evaluation-harness's `local-completions` model against the server, on the tasks in tasks/: the
log-likelihoods it records equal those `transformers` computes for the same token ids, and its free
generations equal transformers' greedy ones, as `local-chat-completions`' do through the chat template."""
import math
import pathlib
import string

import pytest
import yaml

TASKS = pathlib.Path(__file__).parent / "tasks"


@pytest.fixture(scope="module")
def reference_model(model_dir):
    """The fixture in transformers, and a function giving log p(continuation | context) for token ids."""
    import torch
    import transformers
    model = transformers.AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))

    def loglikelihood(context, continuation):
        ids = context + continuation
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
        picked = [float(logp[i - 1, ids[i]]) for i in range(len(context), len(ids))]
        greedy = all(int(logp[i - 1].argmax()) == ids[i] for i in range(len(context), len(ids)))
        return sum(picked), greedy

    return tokenizer, loglikelihood


def encode_pair(tokenizer, context, continuation):
    """lm-evaluation-harness's split: trailing spaces of the context move to the continuation, the
    pair is encoded whole and the continuation is what follows the context's own tokens."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer.encode(context + continuation, add_special_tokens=False)
    context_ids = tokenizer.encode(context, add_special_tokens=False)
    return context_ids, whole[len(context_ids):]


def evaluate(base_url, model, task, harness_model="local-completions", **model_args):
    """`local-chat-completions` sends the task's prompts as chat messages, which the server renders."""
    import lm_eval
    import lm_eval.tasks
    chat = harness_model == "local-chat-completions"
    endpoint = "/v1/chat/completions" if chat else "/v1/completions"
    arguments = {"model": model, "base_url": base_url + endpoint, "max_length": 256, **model_args}
    return lm_eval.simple_evaluate(
        model=harness_model, model_args=",".join(f"{k}={v}" for k, v in arguments.items()), tasks=[task],
        task_manager=lm_eval.tasks.TaskManager(include_path=str(TASKS), include_defaults=False), log_samples=True, random_seed=0,
        numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0, apply_chat_template=chat)


@pytest.mark.parametrize("tokenizer_args", [
    {},  # the server's /tokenizer_info and /tokenize, as the harness finds them by itself
    {"tokenizer_backend": "huggingface", "tokenizer": "MODEL_DIR"},
])
def test_multiple_choice_loglikelihoods_equal_transformers(base_url, model, model_dir, reference_model, tokenizer_args):
    tokenizer, loglikelihood = reference_model
    args = {k: (str(model_dir) if v == "MODEL_DIR" else v) for k, v in tokenizer_args.items()}
    results = evaluate(base_url, model, "tessera_mc", **args)
    samples = results["samples"]["tessera_mc"]
    assert len(samples) == 6
    correct = 0
    for sample in samples:
        doc = sample["doc"]
        context = f"Question: {doc['question']}\nAnswer:"
        # The harness puts its target delimiter, a space, between the question and each choice.
        pairs = [encode_pair(tokenizer, context, " " + choice) for choice in doc["choices"]]
        expected = [loglikelihood(*pair) for pair in pairs]
        got = [tuple(resp[0]) for resp in sample["resps"]]
        assert len(got) == len(expected)
        for (value, greedy), (want, want_greedy), (_, continuation) in zip(got, expected, pairs):
            assert abs(value - want) < 2e-3 * len(continuation), (doc, got, expected)
            assert greedy == want_greedy
        correct += max(range(len(expected)), key=lambda i: expected[i][0]) == doc["answer"]
    assert results["results"]["tessera_mc"]["acc,none"] == pytest.approx(correct / len(samples))


def test_rolling_loglikelihood_equals_transformers(base_url, model, model_dir, reference_model):
    """Perplexity tasks: each document scored whole after the BOS token (EOS without one), as the harness asks."""
    tokenizer, loglikelihood = reference_model
    results = evaluate(base_url, model, "tessera_rolling")
    samples = results["samples"]["tessera_rolling"]
    assert len(samples) == 3
    prefix = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
    total, words = 0.0, 0
    for sample in samples:
        text = sample["doc"]["text"]
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert len(ids) < 255  # one window
        want, _ = loglikelihood(prefix, ids)
        value = sample["resps"][0][0]
        value = value[0] if isinstance(value, (list, tuple)) else value
        assert abs(value - want) < 2e-3 * len(ids), (text, value, want)
        total += want
        words += len(text.split())
    assert results["results"]["tessera_rolling"]["word_perplexity,none"] == pytest.approx(math.exp(-total / words), rel=1e-3)


@pytest.mark.parametrize("harness_model", ["local-completions", "local-chat-completions"])
def test_generate_until_equals_transformers_greedy(base_url, model, model_dir, harness_model):
    """Free generation (`generate_until`): each answer the harness records is the fixture's greedy
    continuation in transformers, cut before the first stop sequence, and its exact-match score follows.
    Through chat completions the prompt is the question as a user message in the fixture's chat
    template (rendered by transformers for the reference), followed by the assistant's header."""
    import torch
    import transformers
    reference = transformers.AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    chat = harness_model == "local-chat-completions"
    args = {} if chat else {"tokenizer_backend": "huggingface", "tokenizer": str(model_dir)}
    results = evaluate(base_url, model, "tessera_gen", harness_model, **args)
    samples = results["samples"]["tessera_gen"]
    assert len(samples) == 4
    until = yaml.safe_load((TASKS / "tessera_gen.yaml").read_text())["generation_kwargs"]["until"]
    matches, stopped = 0, 0
    for sample in samples:
        doc = sample["doc"]
        context = f"Q: {doc['question']}\nA:"
        if chat:
            context = tokenizer.apply_chat_template([{"role": "user", "content": context}], add_generation_prompt=True,
                                                    tokenize=False)
        ids = tokenizer.encode(context, add_special_tokens=False)
        with torch.no_grad():
            out = reference.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False,
                                     eos_token_id=reference.generation_config.eos_token_id,
                                     pad_token_id=tokenizer.eos_token_id)
        whole = tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)
        text = whole
        for stop in until:
            text = text.split(stop)[0]
        got = sample["resps"][0][0]
        assert got == text, (context, got, text)
        stopped += text != whole
        # The harness's exact_match with ignore_case and ignore_punctuation.
        normalize = lambda s: s.lower().translate(str.maketrans("", "", string.punctuation))  # noqa: E731
        matches += normalize(got) == normalize(doc["answer"])
    assert stopped > 0  # a stop sequence cut an answer short
    assert results["results"]["tessera_gen"]["exact_match,none"] == pytest.approx(matches / len(samples))

"""The `tessera generate` command-line contract, checked against transformers' references."""

import json
import os
import pathlib
import subprocess

import pytest

FIXTURES = pathlib.Path(os.environ["TESSERA_FIXTURES"])
MODELS = ["llama-gqa", "qwen2-tied", "llama-sp"]


def generate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([os.environ["TESSERA_BINARY"], "generate", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", MODELS)
def test_json_output_matches_transformers(name):
    model = FIXTURES / "models" / name
    reference = json.loads((model / "reference.json").read_text())
    for prompt in reference["prompts"]:
        result = generate("--model", str(model), "--prompt", prompt["text"], "--max-tokens", "16",
                          "--temperature", "0", "--logprobs", "5", "--json")
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert set(out) == {"prompt_token_ids", "token_ids", "text", "finish_reason", "top_logprobs", "image_tokens"}
        assert out["image_tokens"] == 0
        assert out["prompt_token_ids"] == prompt["prompt_token_ids"]
        # The references never stop at EOS; the CLI does, so compare up to where it stopped.
        n = len(out["token_ids"])
        assert out["token_ids"] == prompt["greedy_token_ids"][:n]
        assert out["finish_reason"] == ("length" if n == 16 else "stop")
        assert len(out["top_logprobs"]) == n
        for mine, theirs in zip(out["top_logprobs"], prompt["top_logprobs"]):
            assert [e["id"] for e in mine] == [e["id"] for e in theirs]
            assert all(abs(a["logprob"] - b["logprob"]) < 1e-4 for a, b in zip(mine, theirs))


def test_streamed_text_equals_json_text():
    model = FIXTURES / "models" / "llama-sp"
    args = ["--model", str(model), "--prompt", "Hello there", "--max-tokens", "12", "--temperature", "0"]
    streamed = generate(*args)
    as_json = generate(*args, "--json")
    assert streamed.returncode == 0 and as_json.returncode == 0
    assert streamed.stdout == json.loads(as_json.stdout)["text"] + "\n"


def test_same_seed_same_output():
    model = str(FIXTURES / "models" / "qwen2-tied")
    args = ["--model", model, "--prompt", "The weather", "--max-tokens", "16", "--temperature", "1.2", "--json"]
    first = json.loads(generate(*args, "--seed", "7").stdout)
    again = json.loads(generate(*args, "--seed", "7").stdout)
    other = json.loads(generate(*args, "--seed", "8").stdout)
    assert first["token_ids"] == again["token_ids"]
    assert first["token_ids"] != other["token_ids"]


def test_broken_model_folder_is_a_clear_error(tmp_path):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((FIXTURES / "models" / "llama-gqa" / name).read_bytes())
    config = json.loads((FIXTURES / "models" / "llama-gqa" / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = generate("--model", str(tmp_path), "--prompt", "hi")
    assert result.returncode != 0
    assert "GPT2LMHeadModel" in result.stderr
    assert "Traceback" not in result.stderr and "Fatal error" not in result.stderr


def test_images_fill_the_placeholders_in_order():
    model = FIXTURES / "models" / "llava-tiny"
    reference = json.loads((model / "reference.json").read_text())
    prompt = next(p for p in reference["prompts"] if len(p["images"]) == 2)
    images = [arg for name in prompt["images"] for arg in ("--image", str(FIXTURES / "images" / "good" / name))]
    result = generate("--model", str(model), "--prompt", prompt["text"], *images, "--max-tokens", "16",
                      "--temperature", "0", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["image_tokens"] == sum(prompt["image_token_counts"])
    assert out["prompt_token_ids"] == prompt["prompt_token_ids"]
    assert out["token_ids"] == prompt["greedy_token_ids"][:len(out["token_ids"])]


def test_an_unreadable_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    result = generate("--model", str(FIXTURES / "models" / "llava-tiny"), "--prompt", "USER: <image>\nHi ASSISTANT:",
                      "--image", str(bad))
    assert result.returncode != 0
    assert "bad.png" in result.stderr or "image" in result.stderr.lower()
    assert "Fatal error" not in result.stderr

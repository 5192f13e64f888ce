"""The `tessera generate-image` command-line contract on the tiny SD 1.x folder, against diffusers' references."""

import json
import os
import pathlib
import subprocess

import numpy as np
from PIL import Image
from safetensors.numpy import load_file, save_file

FIXTURES = pathlib.Path(os.environ["TESSERA_FIXTURES"]) / "diffusion"


def generate_image(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([os.environ["TESSERA_BINARY"], "generate-image", *args], capture_output=True, text=True, timeout=300)


def test_png_and_tensors_match_diffusers(tmp_path):
    case = next(c for c in json.loads((FIXTURES / "pipelines" / "cases.json").read_text())["cases"] if c["name"] == "sd1-euler-a")
    png, tensors = tmp_path / "out.png", tmp_path / "out.safetensors"
    result = generate_image("--model", str(FIXTURES / "sd1-tiny"), "--prompt", case["prompt"], "--steps", "4",
                            "--guidance", str(case["guidance_scale"]), "--scheduler", "euler-a", "--width", "64", "--height", "64",
                            "--seed", str(case["seed"]), "--output", str(png), "--tensors", str(tensors))
    assert result.returncode == 0, result.stderr
    assert "4/4 steps" in result.stderr and "s/step" in result.stderr
    reference = load_file(FIXTURES / "pipelines" / "sd1-euler-a.safetensors")
    out = load_file(tensors)
    assert out["latents"].shape == (1, 4, 32, 32) and out["image"].shape == (64, 64, 3)
    assert np.abs(out["image"] - reference["image"]).max() < 1e-3
    with Image.open(png) as decoded:
        assert decoded.mode == "RGB" and decoded.size == (64, 64)
        pixels = np.asarray(decoded)
    assert np.abs(pixels.astype(np.int32) - np.round(out["image"] * 255).astype(np.int32)).max() == 0


def test_init_latents_are_the_pipelines_latents_argument(tmp_path):
    latents = np.random.default_rng(0).standard_normal((1, 4, 32, 32)).astype(np.float32)
    save_file({"latents": latents}, tmp_path / "init.safetensors")
    runs = []
    for seed in ("1", "2"):
        out = tmp_path / f"{seed}.safetensors"
        result = generate_image("--model", str(FIXTURES / "sd1-tiny"), "--prompt", "a cat", "--steps", "2", "--width", "64",
                                "--height", "64", "--seed", seed, "--scheduler", "ddim", "--init-latents", str(tmp_path / "init.safetensors"),
                                "--output", str(tmp_path / "x.png"), "--tensors", str(out))
        assert result.returncode == 0, result.stderr
        runs.append(load_file(out)["latents"])
    assert np.array_equal(runs[0], runs[1])


def test_options_not_built_fail_clearly(tmp_path):
    base = ["--model", str(FIXTURES / "sd1-tiny"), "--prompt", "x", "--output", str(tmp_path / "x.png")]
    for extra in (["--lora", "a.safetensors"], ["--controlnet", str(FIXTURES / "controlnet-sd1-tiny")], ["--image", "a.png", "--strength", "0.5"]):
        result = generate_image(*base, *extra)
        assert result.returncode != 0 and "not supported yet" in result.stderr
        assert not (tmp_path / "x.png").exists()
    result = generate_image(*base, "--scheduler", "heun")
    assert result.returncode != 0 and "--scheduler" in result.stderr

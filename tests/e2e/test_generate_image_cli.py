"""The `tessera generate-image` command-line contract on the tiny SD 1.x and SDXL folders, against diffusers' references."""

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest
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


def test_lora_and_controlnet_match_diffusers(tmp_path):
    """A kohya LoRA at scale 0.7 and a ControlNet at scale 0.9, as the diffusers reference ran them."""
    case = next(c for c in json.loads((FIXTURES / "addons" / "cases.json").read_text())["cases"] if c["name"] == "sd1-lora-controlnet")
    (lora,), (control,) = case["loras"], case["controlnets"]
    png, tensors = tmp_path / "out.png", tmp_path / "out.safetensors"
    result = generate_image("--model", str(FIXTURES / "sd1-tiny"), "--prompt", case["prompt"], "--steps", "4",
                            "--guidance", str(case["guidance_scale"]), "--width", "64", "--height", "64", "--seed", str(case["seed"]),
                            "--lora", f"{FIXTURES / lora['file']}:{lora['scale']}",
                            "--controlnet", str(FIXTURES / control["folder"]), "--control-image", str(FIXTURES / control["image"]),
                            "--control-scale", str(control["scale"]), "--output", str(png), "--tensors", str(tensors))
    assert result.returncode == 0, result.stderr
    reference = load_file(FIXTURES / "addons" / "sd1-lora-controlnet.safetensors")
    out = load_file(tensors)
    assert np.abs(out["image"] - reference["image"]).max() < 1e-3
    with Image.open(png) as decoded:
        pixels = np.asarray(decoded).astype(np.int32)
    assert np.abs(pixels - np.round(reference["image"] * 255).astype(np.int32)).max() <= 1
    assert np.abs(pixels - np.round(out["image"] * 255).astype(np.int32)).max() == 0


def test_control_guidance_windows_match_diffusers(tmp_path):
    """A MultiControlNet whose ControlNets run over their own parts of the schedule
    (control_guidance_start/end), as the diffusers reference ran it."""
    case = next(c for c in json.loads((FIXTURES / "addons" / "cases.json").read_text())["cases"] if c["name"] == "sd1-multicontrolnet")
    controls = case["controlnets"]
    assert len(controls) == 2 and any(c["start"] > 0 for c in controls) and any(c["end"] < 1 for c in controls)
    tensors = tmp_path / "out.safetensors"
    args = ["--model", str(FIXTURES / "sd1-tiny"), "--prompt", case["prompt"], "--negative-prompt", case["negative_prompt"],
            "--steps", str(case["steps"]), "--guidance", str(case["guidance_scale"]), "--scheduler", case["scheduler"],
            "--width", "64", "--height", "64", "--seed", str(case["seed"]), "--output", str(tmp_path / "out.png"), "--tensors", str(tensors)]
    for control in controls:
        args += ["--controlnet", str(FIXTURES / control["folder"]), "--control-image", str(FIXTURES / control["image"]),
                 "--control-scale", str(control["scale"]), "--control-guidance-start", str(control["start"]),
                 "--control-guidance-end", str(control["end"])]
    result = generate_image(*args)
    assert result.returncode == 0, result.stderr
    reference = load_file(FIXTURES / "addons" / "sd1-multicontrolnet.safetensors")
    assert np.abs(load_file(tensors)["image"] - reference["image"]).max() < 1e-3


def test_sdxl_default_guidance_is_diffusers(tmp_path):
    """Without --guidance an SDXL folder runs at StableDiffusionXLPipeline's default guidance_scale, 5."""
    case = reference_case("xl-cases.json", "sdxl-euler-zero-negative")
    assert case["guidance_scale"] == 5.0 and case["scheduler"] is None and case["negative_prompt"] is None
    tensors = tmp_path / "out.safetensors"
    result = generate_image("--model", str(FIXTURES / "sdxl-tiny"), "--prompt", case["prompt"], "--steps", str(case["steps"]),
                            "--width", str(case["width"]), "--height", str(case["height"]), "--seed", str(case["seed"]),
                            "--output", str(tmp_path / "out.png"), "--tensors", str(tensors))
    assert result.returncode == 0, result.stderr
    reference = load_file(FIXTURES / "pipelines" / "sdxl-euler-zero-negative.safetensors")
    assert np.abs(load_file(tensors)["image"] - reference["image"]).max() < 1e-3


def test_bad_add_on_arguments_fail_clearly(tmp_path):
    base = ["--model", str(FIXTURES / "sd1-tiny"), "--prompt", "x", "--steps", "1", "--width", "64", "--height", "64",
            "--output", str(tmp_path / "x.png")]
    controlnet = str(FIXTURES / "controlnet-sd1-tiny")
    image = str(FIXTURES / "control-images" / "control-a.png")
    cases = [
        (["--lora", str(tmp_path / "missing.safetensors")], "missing.safetensors"),
        (["--lora", str(FIXTURES / "sd1-tiny" / "unet" / "config.json") + ":0.5"], "config.json"),
        (["--controlnet", controlnet], "--control-image"),
        (["--controlnet", controlnet, "--control-image", image, "--controlnet", controlnet, "--control-image", image,
          "--control-scale", "0.5"], "--control-scale"),
        (["--controlnet", controlnet, "--control-image", str(tmp_path / "none.png")], "none.png"),
        (["--controlnet", controlnet, "--control-image", image, "--control-guidance-end", "0.5", "--control-guidance-end", "0.7"],
         "--control-guidance-end"),
        (["--controlnet", controlnet, "--control-image", image, "--control-guidance-start", "0.6", "--control-guidance-end", "0.4",
          "--scheduler", "ddim"],
         "control guidance start 0.6 and end 0.4"),
    ]
    for extra, message in cases:
        result = generate_image(*base, *extra)
        assert result.returncode != 0 and message in result.stderr, (extra, result.stderr)
        assert not (tmp_path / "x.png").exists()


def override_flags(case: dict) -> list:
    """generate-image's flags for a fixture's from_config keyword arguments."""
    overrides = case["overrides"]
    flags = [] if "use_karras_sigmas" not in overrides else ["--karras-sigmas" if overrides["use_karras_sigmas"] else "--no-karras-sigmas"]
    return flags + (["--timestep-spacing", overrides["timestep_spacing"]] if "timestep_spacing" in overrides else [])


@pytest.mark.parametrize("name", ["sd1-euler-karras", "sd1-dpmpp-2m-karras", "sd1-pndm-trailing"])
def test_scheduler_overrides_match_diffusers(tmp_path, name):
    """--karras-sigmas and --timestep-spacing give diffusers' image for Scheduler.from_config(config, use_karras_sigmas=…,
    timestep_spacing=…); without them the image differs."""
    case = reference_case("override-cases.json", name)
    args = ["--model", str(FIXTURES / "sd1-tiny"), "--prompt", case["prompt"], "--steps", str(case["steps"]),
            "--guidance", str(case["guidance_scale"]), "--width", "64", "--height", "64", "--seed", str(case["seed"]),
            "--output", str(tmp_path / "out.png"), *(["--scheduler", case["scheduler"]] if case["scheduler"] else [])]
    reference = load_file(FIXTURES / "pipelines" / f"{name}.safetensors")
    images = []
    for flags in (override_flags(case), []):
        result = generate_image(*args, *flags, "--tensors", str(tmp_path / "out.safetensors"))
        assert result.returncode == 0, result.stderr
        images.append(load_file(tmp_path / "out.safetensors")["image"])
    assert np.abs(images[0] - reference["image"]).max() < 1e-3
    assert np.abs(images[1] - reference["image"]).max() > 1e-2


def test_help_names_the_scheduler_overrides():
    text = " ".join(generate_image("--help").stdout.split())
    for option in ("--karras-sigmas", "--no-karras-sigmas", "--timestep-spacing", "leading|trailing|linspace", "use_karras_sigmas"):
        assert option in text, option


def test_bad_options_fail_clearly(tmp_path):
    base = ["--model", str(FIXTURES / "sd1-tiny"), "--prompt", "x", "--steps", "2", "--output", str(tmp_path / "x.png")]
    cases = [
        (["--scheduler", "heun"], "--scheduler"),
        (["--timestep-spacing", "uniform"], "--timestep-spacing"),
        (["--scheduler", "euler-a", "--karras-sigmas"], "--karras-sigmas: the euler-a scheduler"),
        # The folder's scheduler (PNDM) has none either.
        (["--karras-sigmas"], "--karras-sigmas: the pndm scheduler"),
    ]
    for extra, message in cases:
        result = generate_image(*base, *extra)
        assert result.returncode != 0 and message in result.stderr, (extra, result.stderr)
        assert not (tmp_path / "x.png").exists()


def reference_case(file: str, name: str) -> dict:
    return next(c for c in json.loads((FIXTURES / "pipelines" / file).read_text())["cases"] if c["name"] == name)


def test_sdxl_folder_matches_diffusers(tmp_path):
    case = reference_case("xl-cases.json", "sdxl-ddim-negative")
    tensors = tmp_path / "out.safetensors"
    result = generate_image("--model", str(FIXTURES / "sdxl-tiny"), "--prompt", case["prompt"], "--negative-prompt",
                            case["negative_prompt"], "--steps", "4", "--guidance", str(case["guidance_scale"]), "--scheduler", "ddim",
                            "--width", str(case["width"]), "--height", str(case["height"]), "--seed", str(case["seed"]),
                            "--output", str(tmp_path / "out.png"), "--tensors", str(tensors))
    assert result.returncode == 0, result.stderr
    out, reference = load_file(tensors), load_file(FIXTURES / "pipelines" / "sdxl-ddim-negative.safetensors")
    assert out["image"].shape == (case["height"], case["width"], 3)
    assert np.abs(out["image"] - reference["image"]).max() < 1e-3
    with Image.open(tmp_path / "out.png") as decoded:
        assert decoded.size == (case["width"], case["height"])


def test_image_to_image_matches_diffusers(tmp_path):
    case = reference_case("img2img-cases.json", "sd1-img2img-euler")
    tensors = tmp_path / "out.safetensors"
    result = generate_image("--model", str(FIXTURES / "sd1-tiny"), "--prompt", case["prompt"], "--steps", str(case["steps"]),
                            "--guidance", str(case["guidance_scale"]), "--scheduler", "euler", "--seed", str(case["seed"]),
                            "--image", str(FIXTURES / case["image"]), "--strength", str(case["strength"]),
                            "--output", str(tmp_path / "out.png"), "--tensors", str(tensors))
    assert result.returncode == 0, result.stderr
    assert "3/3 steps" in result.stderr
    out, reference = load_file(tensors), load_file(FIXTURES / "pipelines" / "sd1-img2img-euler.safetensors")
    assert np.abs(out["latents"] - reference["latents"]).max() < 1e-3
    assert np.abs(out["image"] - reference["image"]).max() < 1e-3


def test_image_to_image_arguments_fail_clearly(tmp_path):
    base = ["--model", str(FIXTURES / "sd1-tiny"), "--prompt", "x", "--steps", "4", "--output", str(tmp_path / "x.png")]
    image = str(FIXTURES / "pipelines" / "init-image.png")
    for extra, message in ((["--strength", "0.5"], "--strength needs --image"), (["--image", image, "--strength", "1.5"], "--strength"),
                           (["--image", image, "--strength", "0.1"], "no denoising step"),
                           (["--image", str(tmp_path / "missing.png")], "missing.png")):
        result = generate_image(*base, *extra)
        assert result.returncode != 0 and message in result.stderr, (extra, result.stderr)
        assert not (tmp_path / "x.png").exists()

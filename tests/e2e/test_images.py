"""POST /v1/images/generations through the official openai client, on a server that serves the language
model and the tiny SD 1.x folder side by side."""

import base64
import io
import json
import os
import pathlib
import subprocess
import threading
import time

import numpy as np
import openai
import pytest
import requests
from PIL import Image

from conftest import extra_server

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TESSERA_E2E_TOPOLOGY")), reason="image models are served by a single-process server")

SD1 = pathlib.Path(os.environ["TESSERA_FIXTURES"]) / "diffusion" / "sd1-tiny"
IMAGE_MODEL = SD1.name
INIT_IMAGE = pathlib.Path(os.environ["TESSERA_FIXTURES"]) / "diffusion" / "pipelines" / "init-image.png"
INIT_IMAGE_URI = "data:image/png;base64," + base64.b64encode(INIT_IMAGE.read_bytes()).decode()
DIFFUSION = pathlib.Path(os.environ["TESSERA_FIXTURES"]) / "diffusion"
LORA_PEFT = DIFFUSION / "loras" / "sd1-tiny-peft.safetensors"
LORA_KOHYA = DIFFUSION / "loras" / "sd1-tiny-kohya.safetensors"
CONTROLNET = DIFFUSION / "controlnet-sd1-tiny"
CONTROL_IMAGE = DIFFUSION / "control-images" / "control-a.png"
CONTROL_URI = "data:image/png;base64," + base64.b64encode(CONTROL_IMAGE.read_bytes()).decode()
SDXL = DIFFUSION / "sdxl-tiny"
CONTROLNET_XL = DIFFUSION / "controlnet-sdxl-tiny"
ADAPTERS = ("--lora", f"peft={LORA_PEFT}", "--lora", f"kohya={LORA_KOHYA}", "--controlnet", f"edges={CONTROLNET}")


def png_uri(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def image_base(model_dir):
    with extra_server(model_dir, "--image-model", str(SD1), "--max-image-batch", "4", "--max-queued-images", "4",
                      "--max-image-steps", "200", *ADAPTERS) as base:
        yield base


@pytest.fixture(scope="module")
def images_client(image_base):
    return openai.OpenAI(base_url=image_base + "/v1", api_key="unused", max_retries=0, timeout=300)


def pixels(b64: str) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        return np.asarray(image)


def cli_pixels(tmp_path, *args: str, model: pathlib.Path = SD1) -> np.ndarray:
    out = tmp_path / "cli.png"
    result = subprocess.run([os.environ["TESSERA_BINARY"], "generate-image", "--model", str(model), "--output", str(out), *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        return np.asarray(image)


def metric(base: str, name: str) -> float:
    text = requests.get(base + "/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def test_models_lists_the_language_and_the_image_model(images_client, model):
    assert [m.id for m in images_client.models.list().data] == [model, IMAGE_MODEL]
    assert images_client.models.retrieve(IMAGE_MODEL).id == IMAGE_MODEL


def test_same_seed_gives_the_png_of_generate_image(images_client, tmp_path):
    out = images_client.images.generate(
        model=IMAGE_MODEL, prompt="a red cube on a table", size="64x48", response_format="b64_json", user="e2e",
        extra_body={"negative_prompt": "blurry", "num_inference_steps": 5, "guidance_scale": 6.5, "seed": 1234, "scheduler": "euler-a"})
    assert len(out.data) == 1 and out.created > 0
    served = pixels(out.data[0].b64_json)
    assert served.shape == (48, 64, 3)
    expected = cli_pixels(tmp_path, "--prompt", "a red cube on a table", "--negative-prompt", "blurry", "--steps", "5",
                          "--guidance", "6.5", "--seed", "1234", "--scheduler", "euler-a", "--width", "64", "--height", "48")
    assert np.array_equal(served, expected)


def test_image_to_image_gives_the_png_of_generate_image(images_client, tmp_path):
    out = images_client.images.generate(
        prompt="a house by a river", extra_body={"image": INIT_IMAGE_URI, "strength": 0.6, "num_inference_steps": 5, "seed": 3,
                                                 "scheduler": "ddim"})
    expected = cli_pixels(tmp_path, "--prompt", "a house by a river", "--image", str(INIT_IMAGE), "--strength", "0.6", "--steps", "5",
                          "--seed", "3", "--scheduler", "ddim")
    assert np.array_equal(pixels(out.data[0].b64_json), expected)


# Scheduler settings over sd1-tiny's config (PNDM, leading spacing) as extension fields, and generate-image's flags for them.
SCHEDULER_OVERRIDES = {
    "euler-karras": ({"scheduler": "euler", "use_karras_sigmas": True}, ("--scheduler", "euler", "--karras-sigmas")),
    "dpmpp-2m-karras-trailing": ({"scheduler": "dpmpp-2m", "use_karras_sigmas": True, "timestep_spacing": "trailing"},
                                 ("--scheduler", "dpmpp-2m", "--karras-sigmas", "--timestep-spacing", "trailing")),
    "folder-trailing": ({"timestep_spacing": "trailing"}, ("--timestep-spacing", "trailing")),
}


@pytest.mark.parametrize("override", list(SCHEDULER_OVERRIDES))
def test_scheduler_overrides_give_the_png_of_generate_image(images_client, tmp_path, override):
    fields, flags = SCHEDULER_OVERRIDES[override]
    out = images_client.images.generate(model=IMAGE_MODEL, prompt="a watercolor fox", size="64x64",
                                        extra_body={"num_inference_steps": 4, "seed": 9, **fields})
    common = ("--prompt", "a watercolor fox", "--steps", "4", "--seed", "9", "--width", "64", "--height", "64")
    served = pixels(out.data[0].b64_json)
    assert np.array_equal(served, cli_pixels(tmp_path, *common, *flags))
    # Without the settings (the same scheduler) the image differs: they were not ignored.
    assert not np.array_equal(served, cli_pixels(tmp_path, *common, *(flags[:2] if "scheduler" in fields else ())))


def test_karras_sigmas_without_them_are_refused_before_the_stream(image_base):
    body = {"model": IMAGE_MODEL, "prompt": "x", "size": "32x32", "num_inference_steps": 2, "scheduler": "euler-a",
            "use_karras_sigmas": True, "stream": True}
    response = requests.post(image_base + "/v1/images/generations", json=body, timeout=60)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "use_karras_sigmas" and "euler-a" in error["message"] and "euler and dpmpp-2m" in error["message"]


def test_openai_fields_alone_and_n_images_with_consecutive_seeds(images_client, tmp_path):
    # No extension fields: diffusers' defaults (50 steps, guidance 7.5, the folder's scheduler), a random seed.
    plain = images_client.images.generate(prompt="a cat", size="64x64")
    assert len(plain.data) == 1 and pixels(plain.data[0].b64_json).shape == (64, 64, 3)
    # Image i of n uses seed + i.
    out = images_client.images.generate(prompt="a dog", size="64x64", n=2, extra_body={"seed": 7, "num_inference_steps": 3})
    assert not np.array_equal(pixels(out.data[0].b64_json), pixels(out.data[1].b64_json))
    assert np.array_equal(pixels(out.data[1].b64_json),
                          cli_pixels(tmp_path, "--prompt", "a dog", "--steps", "3", "--seed", "8", "--width", "64", "--height", "64"))
    # "auto" is the folder's default size: the UNet's sample_size (8) times the VAE's scale factor (2).
    auto = images_client.images.generate(prompt="a dog", size="auto", extra_body={"num_inference_steps": 2})
    assert pixels(auto.data[0].b64_json).shape == (16, 16, 3)


def test_adapters_are_listed_by_name(image_base):
    listing = requests.get(image_base + "/v1/adapters", timeout=10).json()
    assert listing["object"] == "list"
    assert [(a["id"], a["type"], a["object"], a["model"]) for a in listing["data"]] == [
        ("kohya", "lora", "adapter", IMAGE_MODEL), ("peft", "lora", "adapter", IMAGE_MODEL), ("edges", "controlnet", "adapter", IMAGE_MODEL)]


def test_loras_and_controlnets_give_the_png_of_generate_image(images_client, image_base, tmp_path):
    hits_before = metric(image_base, "tessera:lora_cache_hits_total")
    args = dict(model=IMAGE_MODEL, prompt="a watercolor fox", size="64x64", extra_body={
        "negative_prompt": "blurry", "num_inference_steps": 4, "guidance_scale": 6, "seed": 5, "scheduler": "ddim",
        "loras": [{"name": "peft", "scale": 0.8}, {"name": "kohya", "scale": 0.5}],
        "controlnets": [{"name": "edges", "image": CONTROL_URI, "scale": 0.7}]})
    served = pixels(images_client.images.generate(**args).data[0].b64_json)
    expected = cli_pixels(tmp_path, "--prompt", "a watercolor fox", "--negative-prompt", "blurry", "--steps", "4", "--guidance", "6",
                          "--seed", "5", "--scheduler", "ddim", "--width", "64", "--height", "64", "--lora", f"{LORA_PEFT}:0.8",
                          "--lora", f"{LORA_KOHYA}:0.5", "--controlnet", str(CONTROLNET), "--control-image", str(CONTROL_IMAGE),
                          "--control-scale", "0.7")
    assert np.array_equal(served, expected)
    plain = cli_pixels(tmp_path, "--prompt", "a watercolor fox", "--negative-prompt", "blurry", "--steps", "4", "--guidance", "6",
                       "--seed", "5", "--scheduler", "ddim", "--width", "64", "--height", "64")
    assert not np.array_equal(served, plain)
    # The second time the LoRAs come from the cache.
    again = pixels(images_client.images.generate(**args).data[0].b64_json)
    assert np.array_equal(again, served)
    assert metric(image_base, "tessera:lora_cache_hits_total") >= hits_before + 2
    assert metric(image_base, "tessera:image_controlnet_seconds_count") >= 2
    assert metric(image_base, "tessera:image_unet_calls_merged_lora_total") >= 8


def test_controlnet_image_to_image_gives_the_png_of_generate_image(images_client, tmp_path):
    out = images_client.images.generate(prompt="a house by a river", extra_body={
        "image": INIT_IMAGE_URI, "strength": 0.6, "num_inference_steps": 5, "seed": 4, "scheduler": "ddim",
        "controlnets": [{"name": "edges", "image": CONTROL_URI, "scale": 0.8}]})
    expected = cli_pixels(tmp_path, "--prompt", "a house by a river", "--image", str(INIT_IMAGE), "--strength", "0.6", "--steps", "5",
                          "--seed", "4", "--scheduler", "ddim", "--controlnet", str(CONTROLNET), "--control-image", str(CONTROL_IMAGE),
                          "--control-scale", "0.8")
    assert np.array_equal(pixels(out.data[0].b64_json), expected)


# SDXL: the second text encoder's texts and an SDXL ControlNet, as `generate-image --prompt-2 … --controlnet`.
SDXL_UNGUIDED = ("--prompt", "a house by a lake", "--negative-prompt", "fog", "--steps", "4", "--seed", "44",
                 "--scheduler", "ddim", "--width", "64", "--height", "64")
SDXL_COMMON = (*SDXL_UNGUIDED, "--guidance", "6")
SDXL_FIELDS = {"negative_prompt": "fog", "num_inference_steps": 4, "guidance_scale": 6, "seed": 44, "scheduler": "ddim"}
SDXL_TEXTS = ({"prompt_2": "an oil painting", "negative_prompt_2": "blurry"}, ("--prompt-2", "an oil painting", "--negative-prompt-2", "blurry"))


def sdxl_pixels(client, **fields) -> np.ndarray:
    """`fields` over SDXL_FIELDS; a field given as None is left out of the request."""
    body = {name: value for name, value in {**SDXL_FIELDS, **fields}.items() if value is not None}
    out = client.images.generate(model=SDXL.name, prompt="a house by a lake", size="64x64", extra_body=body)
    return pixels(out.data[0].b64_json)


def assert_sdxl_default_guidance(client, tmp_path, *flags: str):
    """Without guidance_scale an SDXL server uses the pipeline's default (diffusers': 5), as `generate-image` without --guidance."""
    served = sdxl_pixels(client, guidance_scale=None)
    assert np.array_equal(served, cli_pixels(tmp_path, *SDXL_UNGUIDED, *flags, model=SDXL))
    assert not np.array_equal(served, cli_pixels(tmp_path, *SDXL_UNGUIDED, "--guidance", "7.5", *flags, model=SDXL)), "the SD 1.x default"


def test_sdxl_prompt_2_and_controlnets_give_the_png_of_generate_image(model_dir, tmp_path):
    with extra_server(model_dir, "--image-model", str(SDXL), "--controlnet", f"xl-edges={CONTROLNET_XL}") as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=300)
        texts, flags = SDXL_TEXTS
        with_texts = sdxl_pixels(client, **texts)
        assert np.array_equal(with_texts, cli_pixels(tmp_path, *SDXL_COMMON, *flags, model=SDXL))
        assert not np.array_equal(with_texts, cli_pixels(tmp_path, *SDXL_COMMON, model=SDXL)), "prompt_2 changed nothing"
        controlled = sdxl_pixels(client, **texts, controlnets=[{"name": "xl-edges", "image": CONTROL_URI, "scale": 0.7}])
        assert np.array_equal(controlled, cli_pixels(tmp_path, *SDXL_COMMON, *flags, "--controlnet", str(CONTROLNET_XL), "--control-image",
                                                     str(CONTROL_IMAGE), "--control-scale", "0.7", model=SDXL))
        assert not np.array_equal(controlled, with_texts)
        assert_sdxl_default_guidance(client, tmp_path)


def test_a_lora_start_step_gives_the_png_of_generate_image_with_it(model_dir, tmp_path):
    with extra_server(model_dir, "--image-model", str(SD1), "--lora-start-step", "2", *ADAPTERS) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=300)
        out = client.images.generate(prompt="a lighthouse", size="64x64", extra_body={
            "num_inference_steps": 5, "seed": 21, "scheduler": "euler", "loras": [{"name": "peft", "scale": 1.0}]})
        assert metric(base, "tessera:image_lora_load_seconds_count") == 1
    common = ("--prompt", "a lighthouse", "--steps", "5", "--seed", "21", "--scheduler", "euler", "--width", "64", "--height", "64",
              "--lora", f"{LORA_PEFT}:1")
    served = pixels(out.data[0].b64_json)
    assert np.array_equal(served, cli_pixels(tmp_path, *common, "--lora-start-step", "2"))
    assert not np.array_equal(served, cli_pixels(tmp_path, *common))


def test_streaming_sends_progress_then_the_image(images_client):
    args = dict(model=IMAGE_MODEL, prompt="a blue sphere", size="64x64", extra_body={"num_inference_steps": 4, "seed": 5, "scheduler": "ddim"})
    events = list(images_client.images.generate(stream=True, **args))
    progress = [e for e in events if e.type == "image_generation.progress"]
    completed = [e for e in events if e.type == "image_generation.completed"]
    assert [(e.step, e.total) for e in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(b.elapsed >= a.elapsed >= 0 for a, b in zip(progress, progress[1:]))
    assert len(completed) == 1 and completed[0].size == "64x64" and completed[0].output_format == "png"
    assert events[-1] is completed[0]
    alone = images_client.images.generate(**args)
    assert np.array_equal(pixels(completed[0].b64_json), pixels(alone.data[0].b64_json))


def test_a_client_leaving_cancels_its_image(image_base):
    before = metric(image_base, "tessera:images_cancelled_total")
    body = {"prompt": "x", "size": "128x128", "stream": True, "num_inference_steps": 200}
    with requests.post(image_base + "/v1/images/generations", json=body, stream=True, timeout=60) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith(b"data: "):
                assert json.loads(line[6:])["type"] == "image_generation.progress"
                break
    # A non-streaming client that gives up is cancelled too.
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(image_base + "/v1/images/generations", json={**body, "stream": False}, timeout=1.5)
    for _ in range(200):
        if metric(image_base, "tessera:images_cancelled_total") >= before + 2 and metric(image_base, "tessera:num_images_running") == 0:
            break
        time.sleep(0.1)
    assert metric(image_base, "tessera:images_cancelled_total") == before + 2
    assert metric(image_base, "tessera:num_images_running") == 0
    assert metric(image_base, "tessera:image_e2e_latency_seconds_count") >= 1


@pytest.mark.parametrize("fields, status, param", [
    ({"size": "65x64"}, 400, "size"),
    ({"size": "64"}, 400, "size"),
    ({"size": "4096x4096"}, 400, "size"),
    ({"num_inference_steps": 201}, 400, "num_inference_steps"),
    ({"num_inference_steps": 0}, 400, "num_inference_steps"),
    ({"num_inference_steps": 1, "scheduler": "pndm"}, 400, "num_inference_steps"),
    ({"num_inference_steps": 2.5}, 400, "num_inference_steps"),
    ({"scheduler": "heun"}, 400, "scheduler"),
    ({"timestep_spacing": "uniform"}, 400, "timestep_spacing"),
    ({"use_karras_sigmas": "yes"}, 400, "use_karras_sigmas"),
    ({"use_karras_sigmas": True, "scheduler": "euler-a"}, 400, "use_karras_sigmas"),
    ({"use_karras_sigmas": True, "scheduler": "ddim"}, 400, "use_karras_sigmas"),
    ({"use_karras_sigmas": True}, 400, "use_karras_sigmas"),  # the folder's PNDM has no Karras sigmas
    ({"response_format": "url"}, 400, "response_format"),
    ({"response_format": "jpeg"}, 400, "response_format"),
    ({"n": 0}, 400, "n"),
    ({"n": 11}, 400, "n"),
    ({"n": 5}, 400, "n"),  # more images than the server queues at once
    ({"seed": -1}, 400, "seed"),
    ({"guidance_scale": "high"}, 400, "guidance_scale"),
    ({"quality": "hd"}, 400, "quality"),
    ({"output_format": "webp"}, 400, "output_format"),
    ({"partial_images": 2}, 400, "partial_images"),
    ({"loras": [{"name": "style", "scale": 0.8}]}, 404, "loras[0].name"),
    ({"loras": [{"name": "peft", "weight": 0.8}]}, 400, "loras[0].weight"),
    ({"loras": [{"name": "peft"}, {"name": "peft", "scale": 0.5}]}, 400, "loras"),
    ({"loras": [{"name": "peft", "scale": 1e300}]}, 400, "loras[0].scale"),
    ({"loras": [{"name": "peft", "scale": "strong"}]}, 400, "loras[0].scale"),
    ({"loras": ["peft"]}, 400, "loras[0]"),
    ({"controlnets": [{"name": "canny", "image": CONTROL_URI}]}, 404, "controlnets[0].name"),
    ({"controlnets": [{"name": "edges", "image": "data:image/png;base64,!!!"}]}, 400, "controlnets[0].image"),
    ({"controlnets": [{"name": "edges", "image": "data:image/png;base64," + base64.b64encode(b"not a png").decode()}]},
     400, "controlnets[0].image"),
    ({"controlnets": [{"name": "edges", "image": png_uri(2100, 2100)}]}, 400, "controlnets[0].image"),
    ({"controlnets": [{"name": "edges", "image": CONTROL_URI, "scale": -1e300}]}, 400, "controlnets[0].scale"),
    ({"controlnets": [{"name": "edges", "image": CONTROL_URI, "start": 0.8, "end": 0.2}]}, 400, "controlnets[0].start"),
    ({"controlnets": [{"name": "edges"}]}, 400, "controlnets[0].image"),
    ({"image": "data:image/png;base64,not base64!", "strength": 0.5}, 400, "image"),
    ({"image": "data:image/png;base64," + base64.b64encode(b"not a png").decode()}, 400, "image"),
    ({"image": INIT_IMAGE_URI, "strength": 1.5}, 400, "strength"),
    ({"strength": 0.5}, 400, "strength"),
    ({"mystery": 1}, 400, "mystery"),
    ({"prompt_2": "a dog"}, 400, "prompt_2"),  # SD 1.x has one text encoder
    ({"negative_prompt_2": "fog"}, 400, "negative_prompt_2"),
    ({"model": "no-such-model"}, 404, "model"),
])
def test_client_mistakes_are_openai_errors(images_client, fields, status, param):
    body = {"prompt": "x", "size": "64x64", "num_inference_steps": 2, **fields}
    with pytest.raises(openai.APIStatusError) as info:
        images_client.post("/images/generations", body=body, cast_to=object)
    assert info.value.status_code == status
    assert info.value.body["param"] == param and info.value.body["message"]
    assert info.value.body["type"] == "invalid_request_error"


def test_missing_prompt_and_the_language_model_are_refused(images_client, model):
    with pytest.raises(openai.BadRequestError) as info:
        images_client.post("/images/generations", body={"size": "64x64"}, cast_to=object)
    assert info.value.body["param"] == "prompt"
    with pytest.raises(openai.BadRequestError) as info:
        images_client.images.generate(model=model, prompt="x")
    assert info.value.body["param"] == "model" and IMAGE_MODEL in info.value.body["message"]


def test_a_server_without_an_image_model_says_so(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.images.generate(prompt="x")
    assert "--image-model" in info.value.body["message"]


def test_full_queues_answer_503_with_retry_after(image_base):
    body = {"prompt": "x", "size": "64x64", "num_inference_steps": 10}
    statuses, retry_after = [], []

    def post():
        response = requests.post(image_base + "/v1/images/generations", json=body, timeout=300)
        statuses.append(response.status_code)
        if response.status_code == 503:
            retry_after.append(response.headers.get("retry-after"))
            assert response.json()["error"]["type"] == "service_unavailable_error"

    threads = [threading.Thread(target=post) for _ in range(14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One image is admitted at once and four more may wait (--max-queued-images 4); the rest are refused.
    assert statuses.count(200) >= 5 and statuses.count(503) >= 1, statuses
    assert set(statuses) <= {200, 503}
    assert all(value and int(value) >= 1 for value in retry_after)

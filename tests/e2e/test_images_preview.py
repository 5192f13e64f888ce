"""Low-resolution previews in `stream: true` image generations: with `preview_interval: k`, every
k-th progress event carries `preview` ({b64_json, size}), a PNG of the latents mapped to RGB, one
pixel per latent pixel (1/8 of the image's size on SD; 1/2 on the tiny fixture, whose VAE halves once); without the field no event has one;
OpenAI's `partial_images` sends such previews as `image_generation.partial_image` events; invalid values are a 400. Single process
and through the diffusion workers of a topology, which send the same previews for the same seed."""

import base64
import io
import json
import os

import numpy as np
import openai
import pytest
import requests
from PIL import Image

from conftest import extra_server
from test_images import IMAGE_MODEL, SD1, pixels
from test_images_cluster import THREADS, TOPOLOGIES

pytestmark = pytest.mark.skipif(bool(os.environ.get("TESSERA_E2E_TOPOLOGY")), reason="starts its own servers")

# The fixture VAE's scale factor: 2 to the number of its blocks less one.
SCALE = 2 ** (len(json.loads((SD1 / "vae" / "config.json").read_text())["block_out_channels"]) - 1)
PREVIEW_SIZE = (64 // SCALE, 48 // SCALE)
BODY = {"model": IMAGE_MODEL, "prompt": "a red cube", "size": "64x48", "num_inference_steps": 4, "seed": 3,
        "scheduler": "ddim", "stream": True}


@pytest.fixture(scope="module")
def single_base(model_dir):
    with extra_server(model_dir, "--image-model", str(SD1), *THREADS) as base:
        yield base


@pytest.fixture(scope="module")
def cluster_base(model_dir):
    with extra_server(model_dir, "--topology", str(TOPOLOGIES / "images.yaml"), "--image-model", str(SD1), *THREADS) as base:
        yield base


def stream(base: str, body: dict) -> list[dict]:
    with requests.post(base + "/v1/images/generations", json=body, stream=True, timeout=300) as response:
        assert response.status_code == 200, response.text
        return [json.loads(line[len(b"data: "):]) for line in response.iter_lines() if line.startswith(b"data: {")]


def previews(events: list[dict]) -> dict[int, np.ndarray]:
    """Each preview by step, checked to be an RGB PNG of the latents' size."""
    out = {}
    for event in events:
        if event["type"] == "image_generation.progress" and "preview" in event:
            assert event["preview"]["size"] == "{}x{}".format(*PREVIEW_SIZE)
            with Image.open(io.BytesIO(base64.b64decode(event["preview"]["b64_json"]))) as image:
                assert image.format == "PNG" and image.mode == "RGB" and image.size == PREVIEW_SIZE
                out[event["step"]] = np.asarray(image)
    return out


@pytest.mark.parametrize("server", ["single_base", "cluster_base"])
def test_previews_arrive_every_interval_and_only_when_asked(request, server):
    base = request.getfixturevalue(server)
    events = stream(base, {**BODY, "preview_interval": 2})
    progress = [e for e in events if e["type"] == "image_generation.progress"]
    assert [e["step"] for e in progress] == [1, 2, 3, 4]
    shown = previews(events)
    assert sorted(shown) == [2, 4]
    # The latents change between steps, and so does their preview.
    assert not np.array_equal(shown[2], shown[4])
    completed = [e for e in events if e["type"] == "image_generation.completed"]
    assert len(completed) == 1 and completed[-1] is events[-1]
    plain = stream(base, BODY)
    assert all("preview" not in e for e in plain)
    # Previews change nothing in the image.
    assert np.array_equal(pixels(plain[-1]["b64_json"]), pixels(completed[0]["b64_json"]))


def test_workers_send_the_single_process_previews(single_base, cluster_base):
    body = {**BODY, "preview_interval": 1}
    single, cluster = previews(stream(single_base, body)), previews(stream(cluster_base, body))
    assert sorted(single) == [1, 2, 3, 4] and sorted(cluster) == sorted(single)
    for step in single:
        assert np.array_equal(single[step], cluster[step]), step


@pytest.mark.parametrize("server", ["single_base", "cluster_base"])
def test_partial_images_through_the_openai_client(request, server):
    """OpenAI's `partial_images`: `image_generation.partial_image` events (the openai package's
    ImageGenPartialImageEvent) with the latent previews of steps spread over the image's, then
    `image_generation.completed`; the image is the one made without them."""
    from openai.types import ImageGenCompletedEvent, ImageGenPartialImageEvent

    base = request.getfixturevalue(server)
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=300)
    args = dict(model=IMAGE_MODEL, prompt="a red cube", size="64x48", extra_body={"num_inference_steps": 6, "seed": 3, "scheduler": "ddim"})
    events = list(client.images.generate(stream=True, partial_images=2, **args))
    partial = [e for e in events if e.type == "image_generation.partial_image"]
    completed = [e for e in events if e.type == "image_generation.completed"]
    assert all(isinstance(e, ImageGenPartialImageEvent) for e in partial)
    assert len(completed) == 1 and isinstance(completed[0], ImageGenCompletedEvent) and events[-1] is completed[0]
    assert [e.partial_image_index for e in partial] == [0, 1]
    assert all(e.size == "{}x{}".format(*PREVIEW_SIZE) and e.output_format == "png" for e in partial)
    # Steps 2 and 4 of 6 (⌊k·6/3⌋): the previews preview_interval shows there.
    shown = previews(stream(base, {**BODY, "num_inference_steps": 6, "preview_interval": 2}))
    for event, step in zip(partial, [2, 4]):
        with Image.open(io.BytesIO(base64.b64decode(event.b64_json))) as image:
            assert image.format == "PNG" and image.size == PREVIEW_SIZE
            assert np.array_equal(np.asarray(image), shown[step]), step
    # Progress events carry no preview unless preview_interval asks, and the image is unchanged.
    assert all(getattr(e, "preview", None) is None for e in events if e.type == "image_generation.progress")
    alone = client.images.generate(**args)
    assert np.array_equal(pixels(completed[0].b64_json), pixels(alone.data[0].b64_json))


def test_partial_images_and_preview_interval_together(single_base):
    events = stream(single_base, {**BODY, "num_inference_steps": 6, "preview_interval": 3, "partial_images": 3})
    assert sorted(previews(events)) == [3, 6]
    partial = [e for e in events if e["type"] == "image_generation.partial_image"]
    # ⌊k·6/4⌋ for k = 1, 2, 3.
    assert [e["partial_image_index"] for e in partial] == [0, 1, 2]
    steps = {e["step"]: e for e in events if e["type"] == "image_generation.progress"}
    assert partial[1]["b64_json"] == steps[3]["preview"]["b64_json"]
    # Fewer partial images than asked when the image has too few steps: none of its last step.
    few = stream(single_base, {**BODY, "num_inference_steps": 2, "partial_images": 3})
    assert [e["partial_image_index"] for e in few if e["type"] == "image_generation.partial_image"] == [0]


@pytest.mark.parametrize("server", ["single_base", "cluster_base"])
@pytest.mark.parametrize("fields, param", [
    ({"preview_interval": 0}, "preview_interval"),
    ({"preview_interval": -1}, "preview_interval"),
    ({"preview_interval": 5}, "preview_interval"),  # more than num_inference_steps: no preview could come
    ({"preview_interval": 1.5}, "preview_interval"),
    ({"preview_interval": "2"}, "preview_interval"),
    ({"preview_interval": True}, "preview_interval"),
    ({"preview_interval": 2, "stream": False}, "preview_interval"),  # only progress events carry previews
    ({"partial_images": 4}, "partial_images"),
    ({"partial_images": -1}, "partial_images"),
    ({"partial_images": 1.5}, "partial_images"),
    ({"partial_images": 2, "stream": False}, "partial_images"),  # partial images are stream events
])
def test_invalid_preview_fields_are_a_400(request, server, fields, param):
    base = request.getfixturevalue(server)
    response = requests.post(base + "/v1/images/generations", json={**BODY, **fields}, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]

"""POST /v1/images/generations through the official openai client on `tessera serve --topology`: the
tiny SD 1.x and SDXL folders on diffusion worker processes (the image pool of a mixed deployment, a CFG
split across two workers, and ControlNets as a service on a controlnet worker) give the PNG of
single-process `tessera generate-image` for the same seed, with and without named LoRAs and ControlNets."""

import json
import os
import pathlib
import re
import threading
import time

import numpy as np
import openai
import pytest
import requests

from conftest import extra_server
from test_images import (ADAPTERS, CONTROL_IMAGE, CONTROL_URI, CONTROLNET, CONTROLNET_XL, DIFFUSION, IMAGE_MODEL, LORA_KOHYA, LORA_PEFT,
                         SCHEDULER_OVERRIDES, SD1, SDXL, SDXL_COMMON, SDXL_TEXTS, assert_sdxl_default_guidance, cli_pixels, pixels, sdxl_pixels)

# These start their own clusters; a run of the whole suite against a topology need not repeat them.
pytestmark = pytest.mark.skipif(bool(os.environ.get("TESSERA_E2E_TOPOLOGY")), reason="runs in the single-process suite")

TOPOLOGIES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "topologies"
# The workers and the command line compute with the same number of threads: the GEMMs' blocking
# follows the thread count, which can move a pixel by one level.
THREADS = ("--threads", "1")


# The add-ons go to the whole image pool from the serve command line (images.yaml, the CFG split), or
# per pool from the topology file (images-controlnet.yaml: the LoRAs on the image worker, the ControlNet
# only on the controlnet worker, so an image with it can only come from the service).
CLUSTERS = {"images.yaml": ADAPTERS, "images-cfg-split.yaml": ADAPTERS, "images-controlnet.yaml": ()}


@pytest.fixture(scope="module", params=list(CLUSTERS))
def cluster_base(request, model_dir):
    with extra_server(model_dir, "--topology", str(TOPOLOGIES / request.param), "--image-model", str(SD1),
                      "--max-image-batch", "4", *THREADS, *CLUSTERS[request.param]) as base:
        yield base


@pytest.fixture(scope="module")
def cluster_client(cluster_base):
    return openai.OpenAI(base_url=cluster_base + "/v1", api_key="unused", max_retries=0, timeout=300)


def test_cluster_png_equals_generate_image(cluster_client, tmp_path):
    out = cluster_client.images.generate(
        model=IMAGE_MODEL, prompt="a red cube on a table", size="64x48", response_format="b64_json", n=2,
        extra_body={"negative_prompt": "blurry", "num_inference_steps": 5, "guidance_scale": 6.5, "seed": 1234, "scheduler": "euler-a"})
    assert len(out.data) == 2
    for i, image in enumerate(out.data):
        expected = cli_pixels(tmp_path, "--prompt", "a red cube on a table", "--negative-prompt", "blurry", "--steps", "5",
                              "--guidance", "6.5", "--seed", str(1234 + i), "--scheduler", "euler-a", "--width", "64", "--height", "48", *THREADS)
        assert np.array_equal(pixels(image.b64_json), expected)


def test_cluster_metrics_have_the_image_workers_loop_seconds(cluster_client, cluster_base):
    """`tessera:image_loop_seconds_total{phase}` sums the image workers' loops (their heartbeats carry them)."""
    cluster_client.images.generate(model=IMAGE_MODEL, prompt="a cone", size="32x32", response_format="b64_json",
                                   extra_body={"num_inference_steps": 2, "seed": 3})
    pattern = re.compile(r'^tessera:image_loop_seconds_total\{[^}]*phase="(\w+)"[^}]*\} (\S+)$', re.M)
    deadline = time.time() + 10
    while True:
        phases = {m.group(1): float(m.group(2)) for m in pattern.finditer(requests.get(cluster_base + "/metrics", timeout=30).text)}
        if (phases.get("unet", 0) > 0 and phases.get("decode", 0) > 0) or time.time() > deadline:
            break
        time.sleep(0.2)
    assert set(phases) == {"admission", "lora_activation", "lora_merge", "unet", "decode"}
    assert phases["admission"] > 0 and phases["unet"] > 0 and phases["decode"] > 0


def test_cluster_metrics_have_the_add_on_times_and_cache_hits(cluster_client, cluster_base):
    """The add-on metrics of a single process under a topology too: each image's ControlNet seconds
    come back with it from its worker, the add-on caches' hits and misses with the workers' heartbeats
    (the controlnet worker's resident ControlNets count as the ControlNet cache)."""
    names = ["image_controlnet_seconds_count", "lora_cache_hits_total", "lora_cache_misses_total",
             "controlnet_cache_hits_total", "controlnet_cache_misses_total"]

    def snapshot():
        text = requests.get(cluster_base + "/metrics", timeout=30).text
        return {name: sum(float(v) for v in re.findall(rf"^tessera:{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)) for name in names}

    def generate(seed, ready):
        cluster_client.images.generate(model=IMAGE_MODEL, prompt="a cone", size="32x32", response_format="b64_json", extra_body={
            "num_inference_steps": 2, "seed": seed, "loras": [{"name": "peft", "scale": 0.7}],
            "controlnets": [{"name": "edges", "image": CONTROL_URI}]})
        deadline = time.time() + 10
        while not ready(snapshot()) and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1)   # the other workers' next heartbeats
        return snapshot()

    start = snapshot()
    lookups = lambda m, kind: m[f"{kind}_cache_hits_total"] + m[f"{kind}_cache_misses_total"]
    first = generate(21, lambda m: all(lookups(m, k) > lookups(start, k) for k in ("lora", "controlnet")))
    second = generate(22, lambda m: all(m[f"{k}_cache_hits_total"] > first[f"{k}_cache_hits_total"] for k in ("lora", "controlnet")))
    assert second["image_controlnet_seconds_count"] - start["image_controlnet_seconds_count"] == 2, (start, second)
    # The second image finds both add-ons in memory wherever they are looked up: hits grow, misses do not.
    for kind in ("lora", "controlnet"):
        assert second[f"{kind}_cache_hits_total"] > first[f"{kind}_cache_hits_total"], (kind, first, second)
        assert second[f"{kind}_cache_misses_total"] == first[f"{kind}_cache_misses_total"], (kind, first, second)


def test_cluster_streams_progress_and_the_image(cluster_base, tmp_path):
    body = {"model": IMAGE_MODEL, "prompt": "a tree", "size": "32x32", "num_inference_steps": 3, "seed": 7, "stream": True}
    with requests.post(cluster_base + "/v1/images/generations", json=body, stream=True, timeout=300) as response:
        assert response.status_code == 200
        events = [json.loads(line[len(b"data: "):]) for line in response.iter_lines() if line.startswith(b"data: {")]
    progress = [e for e in events if e["type"] == "image_generation.progress"]
    # The folder's PNDM scheduler makes one more UNet call than it has steps.
    assert [e["step"] for e in progress] == list(range(1, progress[0]["total"] + 1)) and progress[0]["total"] >= 3
    completed = [e for e in events if e["type"] == "image_generation.completed"]
    assert len(completed) == 1
    expected = cli_pixels(tmp_path, "--prompt", "a tree", "--steps", "3", "--seed", "7", "--width", "32", "--height", "32", *THREADS)
    assert np.array_equal(pixels(completed[0]["b64_json"]), expected)


def test_cluster_scheduler_overrides_give_the_png_of_generate_image(cluster_client, tmp_path):
    # The settings travel in the wire job to the image worker.
    for fields, flags in SCHEDULER_OVERRIDES.values():
        out = cluster_client.images.generate(model=IMAGE_MODEL, prompt="a watercolor fox", size="64x64",
                                             extra_body={"num_inference_steps": 4, "seed": 9, **fields})
        expected = cli_pixels(tmp_path, "--prompt", "a watercolor fox", "--steps", "4", "--seed", "9", "--width", "64", "--height", "64",
                              *flags, *THREADS)
        assert np.array_equal(pixels(out.data[0].b64_json), expected), fields


def test_cluster_serves_chat_beside_images(cluster_client, model):
    reply = cluster_client.completions.create(model=model, prompt="Hello", max_tokens=4, temperature=0)
    assert reply.usage.completion_tokens == 4
    assert [m.id for m in cluster_client.models.list().data] == [model, IMAGE_MODEL]


def test_cluster_client_errors(cluster_client):
    with pytest.raises(openai.BadRequestError) as error:
        cluster_client.images.generate(model=IMAGE_MODEL, prompt="x", size="60x64", extra_body={"num_inference_steps": 2})
    assert error.value.body["param"] == "size"
    with pytest.raises(openai.BadRequestError):
        cluster_client.images.generate(model=IMAGE_MODEL, prompt="x", size="32x32", extra_body={"num_inference_steps": 2, "scheduler": "nope"})
    # The image workers hold an SD 1.x folder, with one text encoder.
    with pytest.raises(openai.BadRequestError) as error:
        cluster_client.images.generate(model=IMAGE_MODEL, prompt="x", size="32x32", extra_body={"num_inference_steps": 2, "prompt_2": "y"})
    assert error.value.body["param"] == "prompt_2"
    # Streamed too: the front end refuses it before the stream starts.
    with pytest.raises(openai.BadRequestError) as error:
        cluster_client.post("/images/generations", cast_to=object, body={
            "model": IMAGE_MODEL, "prompt": "x", "size": "32x32", "num_inference_steps": 2, "negative_prompt_2": "y", "stream": True})
    assert error.value.body["param"] == "negative_prompt_2"
    # Karras sigmas on the workers' folder scheduler (PNDM), which has none: refused before the stream, naming the field.
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as error:
            cluster_client.post("/images/generations", cast_to=object, body={
                "model": IMAGE_MODEL, "prompt": "x", "size": "32x32", "num_inference_steps": 2, "use_karras_sigmas": True, "stream": stream})
        assert error.value.body["param"] == "use_karras_sigmas" and "pndm" in error.value.body["message"]
    with pytest.raises(openai.BadRequestError) as error:
        cluster_client.images.generate(model=IMAGE_MODEL, prompt="x", size="32x32", extra_body={"timestep_spacing": "uniform"})
    assert error.value.body["param"] == "timestep_spacing"


def test_cluster_sdxl_prompt_2_gives_the_png_of_generate_image(model_dir, tmp_path):
    with extra_server(model_dir, "--topology", str(TOPOLOGIES / "images.yaml"), "--image-model", str(SDXL), *THREADS) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=300)
        texts, flags = SDXL_TEXTS
        assert np.array_equal(sdxl_pixels(client, **texts), cli_pixels(tmp_path, *SDXL_COMMON, *flags, *THREADS, model=SDXL))
        # The default guidance is the image workers' pipeline's, as they registered it.
        assert_sdxl_default_guidance(client, tmp_path, *THREADS)


# SDXL add-ons on worker processes, given per pool in the topology: under the CFG split both image workers
# have the LoRA and the ControlNet (the peer merges the LoRA and takes its rows' residuals); with a
# controlnet worker only it has the ControlNet, so the residuals can only come from the service.
SDXL_LORA = DIFFUSION / "loras" / "sdxl-tiny-peft.safetensors"
SDXL_ADDONS = ["--lora", f"xl-peft={SDXL_LORA}"]
SDXL_CONTROLNET = ["--controlnet", f"xl-edges={CONTROLNET_XL}"]
TEXT_POOL = {"group": "text", "workers": [{"role": "mono", "count": 1}]}
SDXL_CLUSTERS = {
    "cfg-split": [TEXT_POOL, {"group": "image", "cfg_split": True,
                              "workers": [{"role": "image", "count": 2, "arguments": SDXL_ADDONS + SDXL_CONTROLNET}]}],
    "controlnet": [TEXT_POOL, {"group": "image", "workers": [{"role": "image", "count": 1, "arguments": SDXL_ADDONS},
                                                             {"role": "controlnet", "count": 1, "arguments": SDXL_CONTROLNET}]}],
}


@pytest.mark.parametrize("cluster", list(SDXL_CLUSTERS))
def test_cluster_sdxl_addons_give_the_png_of_generate_image(model_dir, tmp_path, cluster):
    topology = tmp_path / "topology.json"
    topology.write_text(json.dumps({"groups": SDXL_CLUSTERS[cluster]}))
    texts, flags = SDXL_TEXTS
    lora = {"loras": [{"name": "xl-peft", "scale": 0.7}]}
    controlnet = {"controlnets": [{"name": "xl-edges", "image": CONTROL_URI, "scale": 0.7}]}
    with extra_server(model_dir, "--topology", str(topology), "--image-model", str(SDXL), *THREADS) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=300)
        with_lora = sdxl_pixels(client, **lora)
        with_both = sdxl_pixels(client, **texts, **lora, **controlnet)
    lora_flags = ("--lora", f"{SDXL_LORA}:0.7")
    controlnet_flags = ("--controlnet", str(CONTROLNET_XL), "--control-image", str(CONTROL_IMAGE), "--control-scale", "0.7")
    assert np.array_equal(with_lora, cli_pixels(tmp_path, *SDXL_COMMON, *lora_flags, *THREADS, model=SDXL))
    assert not np.array_equal(with_lora, cli_pixels(tmp_path, *SDXL_COMMON, *THREADS, model=SDXL)), "the LoRA changed nothing"
    assert np.array_equal(with_both, cli_pixels(tmp_path, *SDXL_COMMON, *flags, *lora_flags, *controlnet_flags, *THREADS, model=SDXL))
    assert not np.array_equal(with_both, cli_pixels(tmp_path, *SDXL_COMMON, *flags, *lora_flags, *THREADS, model=SDXL)), \
        "the ControlNet changed nothing"


def test_cluster_lists_the_adapters_its_workers_registered(cluster_base):
    listing = requests.get(cluster_base + "/v1/adapters", timeout=10).json()
    assert listing["object"] == "list"
    assert [(a["id"], a["type"], a["model"]) for a in listing["data"]] == [
        ("kohya", "lora", IMAGE_MODEL), ("peft", "lora", IMAGE_MODEL), ("edges", "controlnet", IMAGE_MODEL)]


ADDONS = {
    "lora": ({"loras": [{"name": "peft", "scale": 0.8}]}, ("--lora", f"{LORA_PEFT}:0.8")),
    "controlnet": ({"controlnets": [{"name": "edges", "image": CONTROL_URI, "scale": 0.9}]},
                   ("--controlnet", str(CONTROLNET), "--control-image", str(CONTROL_IMAGE), "--control-scale", "0.9")),
    "both": ({"loras": [{"name": "peft", "scale": 0.8}, {"name": "kohya", "scale": 0.5}],
              "controlnets": [{"name": "edges", "image": CONTROL_URI, "scale": 0.7}]},
             ("--lora", f"{LORA_PEFT}:0.8", "--lora", f"{LORA_KOHYA}:0.5", "--controlnet", str(CONTROLNET),
              "--control-image", str(CONTROL_IMAGE), "--control-scale", "0.7")),
}


@pytest.mark.parametrize("addons", list(ADDONS))
def test_cluster_addons_give_the_png_of_generate_image(cluster_client, tmp_path, addons):
    fields, flags = ADDONS[addons]
    out = cluster_client.images.generate(
        model=IMAGE_MODEL, prompt="a watercolor fox", size="64x64", response_format="b64_json",
        extra_body={"negative_prompt": "blurry", "num_inference_steps": 4, "guidance_scale": 6, "seed": 5, "scheduler": "ddim", **fields})
    common = ("--prompt", "a watercolor fox", "--negative-prompt", "blurry", "--steps", "4", "--guidance", "6", "--seed", "5",
              "--scheduler", "ddim", "--width", "64", "--height", "64", *THREADS)
    served = pixels(out.data[0].b64_json)
    assert np.array_equal(served, cli_pixels(tmp_path, *common, *flags))
    assert not np.array_equal(served, cli_pixels(tmp_path, *common))


@pytest.mark.parametrize("fields, param", [
    ({"loras": [{"name": "style", "scale": 0.8}]}, "loras[0].name"),
    ({"controlnets": [{"name": "canny", "image": CONTROL_URI}]}, "controlnets[0].name"),
])
def test_cluster_unknown_adapters_are_404(cluster_client, fields, param):
    with pytest.raises(openai.NotFoundError) as error:
        cluster_client.images.generate(model=IMAGE_MODEL, prompt="x", size="32x32", extra_body={"num_inference_steps": 2, **fields})
    assert error.value.body["code"] == "adapter_not_found" and error.value.body["param"] == param
    assert error.value.body["type"] == "invalid_request_error"


def test_a_full_image_pool_answers_503_before_the_stream(model_dir):
    """Two image workers queue two images each: of a burst of streamed requests the pool takes four
    and refuses the rest with 503 + Retry-After, never with an error inside a 200 stream; once the
    burst is done, the pool takes images again."""
    body = {"model": IMAGE_MODEL, "prompt": "x", "size": "64x64", "num_inference_steps": 10, "stream": True}
    with extra_server(model_dir, "--topology", str(TOPOLOGIES / "images.yaml"), "--image-model", str(SD1),
                      "--max-image-batch", "1", "--max-queued-images", "2", *THREADS) as base:
        results = []

        def post():
            with requests.post(base + "/v1/images/generations", json=body, stream=True, timeout=300) as response:
                lines = [line for line in response.iter_lines() if line]
                results.append((response.status_code, response.headers.get("retry-after"), lines))

        threads = [threading.Thread(target=post) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = [status for status, _, _ in results]
        assert set(statuses) <= {200, 503} and statuses.count(200) >= 4 and statuses.count(503) >= 1, statuses
        for status, retry_after, lines in results:
            if status == 503:
                assert retry_after and int(retry_after) >= 1
                assert json.loads(b"".join(lines))["error"]["type"] == "service_unavailable_error"
            else:
                events = [json.loads(line[len(b"data: "):]) for line in lines if line.startswith(b"data: {")]
                assert [e["type"] for e in events if e["type"] != "image_generation.progress"] == ["image_generation.completed"], events
        with requests.post(base + "/v1/images/generations", json={**body, "stream": False, "n": 4}, timeout=300) as response:
            assert response.status_code == 200 and len(response.json()["data"]) == 4
        with requests.post(base + "/v1/images/generations", json={**body, "n": 5}, timeout=300) as response:
            assert response.status_code == 400 and response.json()["error"]["param"] == "n"


def test_a_controlnet_worker_takes_its_controlnets_from_an_adapter_dir(model_dir, tmp_path):
    """The controlnet worker scans a folder (a ControlNet folder and a LoRA file: it takes the
    ControlNet); the image worker has no ControlNets, so the image's come from the service."""
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    (adapters / "edges").symlink_to(CONTROLNET)
    (adapters / "peft.safetensors").symlink_to(LORA_PEFT)
    topology = tmp_path / "topology.json"
    topology.write_text(json.dumps({"groups": [
        {"group": "text", "workers": [{"role": "mono", "count": 1}]},
        {"group": "image", "workers": [{"role": "image", "count": 1}, {"role": "controlnet", "count": 1, "arguments": ["--adapter-dir", str(adapters)]}]},
    ]}))
    with extra_server(model_dir, "--topology", str(topology), "--image-model", str(SD1), *THREADS) as base:
        listing = requests.get(base + "/v1/adapters", timeout=10).json()
        assert [(a["id"], a["type"]) for a in listing["data"]] == [("edges", "controlnet")]
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=300)
        fields, flags = ADDONS["controlnet"]
        out = client.images.generate(model=IMAGE_MODEL, prompt="a watercolor fox", size="64x64", response_format="b64_json",
                                     extra_body={"num_inference_steps": 3, "seed": 9, **fields})
    expected = cli_pixels(tmp_path, "--prompt", "a watercolor fox", "--steps", "3", "--seed", "9", "--width", "64", "--height", "64",
                          *flags, *THREADS)
    assert np.array_equal(pixels(out.data[0].b64_json), expected)

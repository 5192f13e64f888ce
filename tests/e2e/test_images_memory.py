"""Bursts of image requests, with clients that leave mid-stream and more requests than the queue
holds, on the single-process server and on image worker processes: once idle, nothing is left running
or waiting and the resident memory of the server and its workers is back within a margin of its level
after the same bursts were run as a warm-up. And the activation memory budget (`--image-memory`):
an image that alone needs more is a 400 on `size`, smaller ones are served.

TESSERA_E2E_MEMORY_MODEL and TESSERA_E2E_MEMORY_SIZE run the bursts on another pipeline folder and
size (docs/benchmarks.md: the SD 1.5-shaped model at 256²).

The warm-up runs the bursts first so that the pools that grow once and are then reused (the C
allocator's arenas, the model's scratch buffers for every batch size the bursts reach) are at their
working size: memory that a cancelled or rejected request kept would make every later burst grow."""

import json
import os
import pathlib
import threading
import time

import openai
import pytest
import requests

from conftest import extra_server
from test_images import IMAGE_MODEL, SD1, metric

pytestmark = pytest.mark.skipif(bool(os.environ.get("TESSERA_E2E_TOPOLOGY")), reason="runs in the single-process suite")

TOPOLOGIES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "topologies"
# Batch 2, queue 2: a burst of 10 is more than the server takes, so some are refused with 503.
LIMITS = ("--max-image-batch", "2", "--max-queued-images", "2", "--threads", "1")
BURST = 10
WARM_UP_BURSTS, MEASURED_BURSTS = 3, 3
# RSS after the measured bursts may exceed the post-warm-up level by this much (2-3 MiB of a
# process's 40-60 MiB, over the 10-20 requests a process admits in the measured bursts): it finds
# memory kept per admitted or cancelled request from a few hundred KiB up, not smaller leaks.
MARGIN = 0.05
MODEL = pathlib.Path(os.environ.get("TESSERA_E2E_MEMORY_MODEL", SD1))
SIZE = os.environ.get("TESSERA_E2E_MEMORY_SIZE", "64") + "x" + os.environ.get("TESSERA_E2E_MEMORY_SIZE", "64")


def server_processes(port: int) -> list[int]:
    """The pid of the `tessera serve` listening on `port`, then its worker processes."""
    server = None
    for cmdline in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in arguments and b"--port" in arguments and arguments[arguments.index(b"--port") + 1] == str(port).encode():
            server = int(cmdline.parent.name)
    assert server is not None
    children = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] == str(server):
                children.append(int(stat.parent.name))
        except (OSError, IndexError):
            continue
    return [server, *sorted(children)]


def rss_kib(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def one(base: str, i: int, outcomes: list[str]):
    """Request `i` of a burst: a third stream and leave after the first progress event (cancelled
    mid-run), a third stream to the end, a third wait for the whole answer."""
    leave, stream = i % 3 == 0, i % 3 != 2
    body = {"prompt": f"burst {i}", "size": SIZE, "num_inference_steps": 30 if leave else 4, "seed": i, "stream": stream}
    with requests.post(base + "/v1/images/generations", json=body, stream=stream, timeout=300) as response:
        if response.status_code != 200:
            assert response.status_code == 503 and response.headers.get("Retry-After") and response.json()["error"]["message"]
            return outcomes.append("503")
        if not stream:
            assert response.json()["data"][0]["b64_json"]
            return outcomes.append("answered")
        for line in response.iter_lines():
            if not line.startswith(b"data: {"):
                continue
            event = json.loads(line[6:])
            if "error" in event:
                # A full queue is a 503 before the stream starts, through a topology as in one process.
                return outcomes.append(f"error in the stream: {event['error']}")
            if leave and event["type"] == "image_generation.progress":
                return outcomes.append("left")
            if event["type"] == "image_generation.completed":
                return outcomes.append("answered")
        outcomes.append("stream ended without its image")


def burst(base: str) -> list[str]:
    outcomes: list[str] = []
    def guarded(i):
        try:
            one(base, i, outcomes)
        except Exception as error:  # noqa: BLE001 - reported as an outcome, which the test checks
            outcomes.append(f"client thread failed: {error!r}")

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def idle(base: str, gauges: list[str]):
    """Waits until every gauge in `gauges` (summed over its label sets) is zero."""
    exposed = requests.get(base + "/metrics", timeout=10).text
    assert all(name + "{" in exposed for name in gauges), gauges
    for _ in range(600):
        if all(metric(base, name) == 0 for name in gauges):
            time.sleep(1)  # cancelled requests' memory is released as their step ends
            return
        time.sleep(0.1)
    pytest.fail(f"not idle after 60 s: {[(name, metric(base, name)) for name in gauges]}")


@pytest.mark.parametrize("topology", [None, "images.yaml"])
def test_rss_returns_to_its_level_after_image_bursts_with_cancellations(model_dir, topology):
    arguments = ["--image-model", str(MODEL), *LIMITS]
    if topology:
        arguments += ["--topology", str(TOPOLOGIES / topology)]
    # The single-process engine reports its images running and waiting; the front end of a
    # topology the requests it has on each pool's workers.
    gauges = ["tessera:pool_requests_queued"] if topology else ["tessera:num_images_running", "tessera:num_images_waiting"]
    with extra_server(model_dir, *arguments) as base:
        port = int(base.rsplit(":", 1)[1])
        seen = []
        for _ in range(WARM_UP_BURSTS):
            seen += burst(base)
        idle(base, gauges)
        processes = server_processes(port)
        assert len(processes) == (4 if topology else 1)  # the front end, its text worker and two image workers
        baseline = {pid: rss_kib(pid) for pid in processes}
        for _ in range(MEASURED_BURSTS):
            seen += burst(base)
        idle(base, gauges)
        after = {pid: rss_kib(pid) for pid in processes}
        assert server_processes(port) == processes  # no worker was lost and replaced meanwhile
        assert not [o for o in seen if o.startswith(("stream ended", "client thread", "error in the stream"))], seen
        assert {"left", "answered", "503"} <= set(seen), seen
        if not topology:
            assert metric(base, "tessera:images_cancelled_total") >= seen.count("left")
        report = {pid: f"{baseline[pid] / 1024:.1f} -> {after[pid] / 1024:.1f} MiB" for pid in processes}
        assert sum(after.values()) <= (1 + MARGIN) * sum(baseline.values()), report
        for pid in processes:
            assert after[pid] <= (1 + MARGIN) * baseline[pid], report
        print(f"RSS per process after warm-up -> after {MEASURED_BURSTS} bursts of {BURST}: {report}; outcomes {dict((k, seen.count(k)) for k in set(seen))}")


@pytest.mark.parametrize("topology", [None, "images.yaml"])
def test_an_image_over_the_memory_budget_is_refused_and_smaller_ones_are_served(model_dir, topology):
    # sd1-tiny's 64² image is priced at about 4 MiB (its VAE decode), a 16² one at a sixteenth.
    arguments = ["--image-model", str(SD1), "--image-memory", "1", "--threads", "1"]
    if topology:
        arguments += ["--topology", str(TOPOLOGIES / topology)]
    with extra_server(model_dir, *arguments) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=300)
        with pytest.raises(openai.BadRequestError) as info:
            client.images.generate(model=IMAGE_MODEL, prompt="x", size="64x64", extra_body={"num_inference_steps": 2})
        assert info.value.body["param"] == "size" and "--image-memory" in info.value.body["message"], info.value.body
        out = client.images.generate(model=IMAGE_MODEL, prompt="x", size="16x16", n=3, response_format="b64_json",
                                     extra_body={"num_inference_steps": 2, "seed": 5})
        assert len(out.data) == 3 and all(image.b64_json for image in out.data)
        # Each engine's budget; images.yaml runs two image workers.
        assert metric(base, "tessera:image_memory_budget_bytes") == (2 if topology else 1) * 2**20

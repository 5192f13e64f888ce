import contextlib
import json
import os
import pathlib
import socket
import subprocess
import time

import openai
import pytest
import requests


@pytest.fixture(scope="session")
def base_url():
    return os.environ["TESSERA_BASE_URL"]


@pytest.fixture(scope="session")
def model_dir():
    return pathlib.Path(os.environ["TESSERA_MODEL_DIR"])


@pytest.fixture(scope="session")
def model(model_dir):
    return model_dir.name


@pytest.fixture(scope="session")
def reference(model_dir):
    return json.loads((model_dir / "reference.json").read_text())


@pytest.fixture(scope="session")
def client(base_url):
    return openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def async_client(base_url):
    return openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=300)


def pytest_collection_modifyitems(items):
    """Tests named test_zz_* stop the shared server, so they run after every other file's tests."""
    items.sort(key=lambda item: item.name.startswith("test_zz"))


@contextlib.contextmanager
def extra_server(model_dir, *arguments):
    """Another `tessera serve` on a free port with extra arguments; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [os.environ["TESSERA_BINARY"], "serve", "--model", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
         "--kv-cache-memory", "64", *arguments],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(base + "/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="session")
def hermes_client(model_dir):
    """A second server on the same fixture with a tool-aware Hermes-style chat template."""
    template = os.path.join(os.path.dirname(__file__), "hermes_tools.jinja")
    with extra_server(model_dir, "--chat-template", template) as base:
        yield openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120)

import json
import os
import pathlib

import openai
import pytest


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

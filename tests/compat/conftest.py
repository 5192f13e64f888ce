"""The e2e suite's fixtures (the server's URL, the model folder, extra servers), loaded under their own
module name so that this folder's tests use them as the e2e tests do."""
import importlib.util
import pathlib
import sys

# The e2e suite's tool fixture (weather_tool) is this folder's too.
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "e2e"))
_spec = importlib.util.spec_from_file_location("e2e_conftest", pathlib.Path(__file__).parents[1] / "e2e" / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

base_url, model_dir, model, client = e2e.base_url, e2e.model_dir, e2e.model, e2e.client


def pytest_configure(config):
    # The clients' notices about their own dependencies (pydantic deprecations) are not this suite's findings.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning")
    config.addinivalue_line("filterwarnings", r"ignore::UserWarning:pydantic\..*")

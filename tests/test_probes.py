"""Health probes that tell the truth, on a real server started as deployed (issue 21): `/readyz` fails (503) while no
backend can score (no models, or a model file that no longer matches its checksum) and `/livez` does not; the
container's health check asks readiness; `/metrics` is served from the server's start, before any page is opened."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from appserver import ROOT, free_port, running_app

from don_predictor.modeling.training import train_and_register
from don_predictor.services import readiness as readiness_module
from don_predictor.services.readiness import readiness
from don_predictor.spectra.reader import read_spectra
from don_predictor.store.registry import Registry

pytestmark = pytest.mark.slow  # starts the app


@pytest.fixture(scope="module")
def rf_registry(tmp_path_factory, demo_calibration) -> Registry:
    registry = Registry(tmp_path_factory.mktemp("probe_models"))
    table = read_spectra(demo_calibration, require_target=True)
    train_and_register(
        table, "rf", registry, data_bytes=demo_calibration.read_bytes(), data_name="demo", params={"n_estimators": 10}
    )
    return registry


@pytest.fixture
def models(rf_registry, tmp_path) -> Registry:
    """A copy the test may damage."""
    shutil.copytree(rf_registry.root, tmp_path / "models")
    return Registry(tmp_path / "models")


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def probe(url: str) -> subprocess.CompletedProcess:
    """The container's HEALTHCHECK command (tests/test_container.py checks the Dockerfile and compose run it)."""
    command = [sys.executable, "-m", "don_predictor.probe", url]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=30)


def patch_one_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_without_models_readiness_fails_and_liveness_answers(tmp_path):
    with running_app(tmp_path / "no-models-here") as (url, _process, _seconds):
        status, body = get(f"{url}/readyz")
        assert status == 503 and json.loads(body) == {
            "ready": False,
            "backends": {"rf": "the models directory does not exist", "tf": "the models directory does not exist"},
        }
        assert get(f"{url}/livez") == (200, b"ok")
        assert get(f"{url}/_stcore/health") == (200, b"ok")  # Streamlit's own: liveness only
        checked = probe(f"{url}/readyz")
        assert checked.returncode == 1 and not checked.stderr
        assert checked.stdout.strip() == (
            "not ready (503): rf: the models directory does not exist; tf: the models directory does not exist"
        )


def test_a_byte_patched_model_makes_the_replica_not_ready_until_it_is_restored(models):
    model_file = next(p for p in models.active("rf").path.iterdir() if p.suffix == ".skops")
    original = model_file.read_bytes()
    with running_app(models.root) as (url, _process, _seconds):
        status, body = get(f"{url}/readyz")
        assert status == 200 and json.loads(body)["backends"]["rf"].startswith("ready (version ")
        assert json.loads(body)["backends"]["tf"] == "no active tf model"
        assert probe(f"{url}/readyz").returncode == 0

        patch_one_byte(model_file)  # same size, one byte changed
        status, body = get(f"{url}/readyz")
        assert status == 503 and "checksum does not match" in json.loads(body)["backends"]["rf"]
        assert get(f"{url}/livez") == (200, b"ok")
        assert probe(f"{url}/readyz").returncode == 1

        model_file.write_bytes(original)
        assert get(f"{url}/readyz")[0] == 200


def test_metrics_are_served_from_the_start_before_any_page_is_opened(tmp_path):
    port = free_port()
    with running_app(tmp_path / "models", extra_env={"DON_METRICS_PORT": str(port)}):
        status, body = get(f"http://127.0.0.1:{port}/metrics")  # no page was opened: no script has run
    assert status == 200 and b"don_memory_limit_bytes" in body and b"process_resident_memory_bytes" in body


def test_readiness_hashes_a_model_once_until_one_of_its_files_changes(models, monkeypatch):
    real, hashed = Registry.verify, []

    def counting(self, version):
        hashed.append(version.version)
        return real(self, version)

    monkeypatch.setattr(readiness_module, "_verified", {})
    monkeypatch.setattr(Registry, "verify", counting)
    for _ in range(5):  # a probe every few seconds
        assert readiness(models.root).ready
    assert len(hashed) == 1
    model_file = next(p for p in models.active("rf").path.iterdir() if p.suffix == ".skops")
    patch_one_byte(model_file)
    state = readiness(models.root)
    assert not state.ready and "checksum does not match" in state.backends["rf"] and len(hashed) == 2
    assert not readiness(models.root).ready and len(hashed) == 2  # the failure is kept too, until a file changes


def test_the_server_imports_the_pages_modules_when_it_starts_not_on_the_first_visit():
    """The first page load after a start was blank for several seconds: the first script run imported pandas,
    plotly, scikit-learn and the app's modules. The server's start-up imports them beside it."""
    import subprocess
    import sys

    from conftest import ROOT

    code = """
import asyncio, sys, threading
from don_predictor.ui import server
assert "don_predictor.ui.predict_page" not in sys.modules
async def start():
    async with server.started(None):
        pass
asyncio.run(start())
for thread in threading.enumerate():
    if thread.name == "import-pages":
        thread.join(120)
print(all(name in sys.modules for name in server.PAGE_MODULES))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"

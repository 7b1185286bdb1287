"""Shared fixtures: the demo data, the real dev data in ../shared, and tiny trained models in a temporary registry."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

from don_predictor.modeling.training import train_and_register
from don_predictor.spectra.demo import CALIBRATION_FILE, UPLOAD_FILE, write_demo_data
from don_predictor.spectra.reader import read_spectra
from don_predictor.store.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT.parent / "shared" / "data" / "corn_hsi_dev.csv"

# The prediction history of every test run goes to a temporary file, never into the work tree.
os.environ.setdefault("DON_HISTORY_DB", str(Path(tempfile.mkdtemp(prefix="don_history_")) / "history.sqlite"))

# Small enough to keep the suite fast, big enough to learn the demo signal.
TINY_PARAMS = {"rf": {"n_estimators": 30}, "tf": {"epochs": 25, "patience": 10, "ensemble_size": 2}}


def as_read(markdown: str) -> str:
    """Markdown as the reader sees it: user-supplied parts of a page's text are backslash-escaped (plain_text.py)."""
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The demo files, generated fresh (the same bytes as data/, which tests/test_demo.py checks)."""
    out = tmp_path_factory.mktemp("demo")
    write_demo_data(out)
    return out


@pytest.fixture(scope="session")
def demo_calibration(demo_dir) -> Path:
    return demo_dir / CALIBRATION_FILE


@pytest.fixture(scope="session")
def demo_upload(demo_dir) -> Path:
    return demo_dir / UPLOAD_FILE


@pytest.fixture(scope="session")
def demo_table(demo_calibration):
    return read_spectra(demo_calibration, require_target=True)


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not REAL_DATA.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{REAL_DATA} is missing: CI must have ../shared beside the clone")
        pytest.skip(f"{REAL_DATA} not found")
    return REAL_DATA


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory, demo_calibration, demo_table) -> Registry:
    """A registry with one tiny active RF and TF version each (with intervals), trained on the demo data."""
    registry = Registry(tmp_path_factory.mktemp("models"))
    data = demo_calibration.read_bytes()
    for backend, params in TINY_PARAMS.items():
        train_and_register(demo_table, backend, registry, data_bytes=data, data_name="demo", params=params, cv_folds=3)
    return registry


@pytest.fixture()
def registry(tmp_path, monkeypatch) -> Registry:
    """An empty registry whose audit trail goes to this test's own history database (governance, permissions)."""
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    return Registry(tmp_path / "models")


@pytest.fixture(scope="module")
def small_model(demo_table):
    """A 5-tree RF on 60 demo rows: a real model to save as many versions as a test needs."""
    from don_predictor.modeling.backends import make_backend

    return make_backend("rf", n_estimators=5).fit(demo_table.X[:60], demo_table.target[:60], demo_table.band_names)


@pytest.fixture(scope="session")
def small_rf_models(tmp_path_factory, demo_calibration, demo_table) -> Path:
    """The folder of a registry with one small active RF (10 trees) on the demo data: for tests of what happens
    around scoring (outputs, the history, the Dask engine), not of the model."""
    registry = Registry(tmp_path_factory.mktemp("small_rf_models"))
    data = demo_calibration.read_bytes()
    train_and_register(demo_table, "rf", registry, data_bytes=data, data_name="demo", params={"n_estimators": 10})
    return registry.root


@pytest.fixture(autouse=True)
def _apptest_runs_like_a_started_server(monkeypatch):
    """AppTest starts every run in Streamlit's old pages/ mode (it resets PagesManager.uses_pages_directory), which
    a served app leaves on its first visit (ui/frame.py: ensure_router). Each run then reroutes through app.py, which
    drops the widget click that started it. Run AppTest as a started server runs; tests/test_e2e.py covers the
    first visits after a start in a real browser."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture()
def guarded_app(trained_registry, monkeypatch, tmp_path):
    """The app with this test's own models and history (its audit trail and failed logins), no delay after a wrong
    password; set DON_PASSWORD_HASH or DON_USERS_FILE to put it behind the login."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DON_MODELS_DIR", str(trained_registry.root))
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    monkeypatch.setattr("don_predictor.services.auth.FAILURE_DELAY_SECONDS", 0.0)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


@pytest.fixture()
def downloads(monkeypatch) -> dict:
    """Every st.download_button the page draws, by label: its data, as the page hands it over (a callable when the
    file is built on the click). What a browser click would fetch is data() then."""
    import streamlit

    drawn: dict = {}
    original = streamlit.download_button

    def recording(label, data, *args, **kwargs):
        drawn[label] = (data, kwargs.get("on_click"))
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(streamlit, "download_button", recording)
    return drawn


# What makes a test slow here: it trains TensorFlow models (cli_models, trained_registry: a TF ensemble each; a test
# named or parametrised "tf" fits one itself), reads the real data through a model, starts the app or a browser.
SLOW_FIXTURES = {"trained_registry", "real_data", "browser", "app_with_models", "cli_models"}
SLOW_MODULES = {"test_app", "test_hostile_app", "test_e2e", "test_replicas", "test_status_page"}
# Tests that start other Python processes (an interpreter and its imports each: seconds): two writers at once, a
# fresh process loading a bundle, a pipe, a wheel build. The unit layer keeps their in-process counterparts.
STARTS_PROCESSES = (
    "test_fit_save_load_in_fresh_process",
    "test_a_saved_tf_model_scores_without_tensorflow",
    "test_concurrent_activations_from_two_processes",
    "test_two_processes_writing_at_once",
    "test_a_job_is_seen_by_another_replica",
    "test_cli_info_piped_into_head",
    "test_cli_info_into_a_closed_pipe",
    "test_missing_file_and_missing_models_exit_2",
    "test_the_wheel_has_the_version",
)


def pytest_collection_modifyitems(config, items):
    """Mark the slow tests (`make test-fast` runs the others: the unit layer, in under a minute)."""
    for item in items:
        fits_tf = "tf" in re.split(r"[^a-z0-9]+", item.name.lower())
        starts_processes = item.name.startswith(STARTS_PROCESSES)
        slow_fixture = SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        if slow_fixture or item.module.__name__ in SLOW_MODULES or fits_tf or starts_processes:
            item.add_marker(pytest.mark.slow)

"""A history that cannot be written (full disk, read-only file or folder, a directory where the file should be):
`predict` still delivers its results and exits 0 with a warning; Status and History say the history does not
record runs, with the reason (issue 21: predict exited 1 with 'internal error: HistoryError … disk I/O error')."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess

import pandas as pd
import pytest
from cli_helpers import assert_no_traceback, run_cli
from conftest import ROOT
from sqlalchemy.exc import OperationalError
from streamlit.testing.v1 import AppTest

from don_predictor.services import history_state as state
from don_predictor.services.health import check_health
from don_predictor.store.history import store
from don_predictor.store.registry import Registry

APP = str(ROOT / "app.py")


@pytest.fixture(scope="module")
def models(small_rf_models):
    return small_rf_models


@pytest.fixture
def full_disk(monkeypatch):
    """Every write transaction of the history fails as SQLite does on a full disk."""

    @contextlib.contextmanager
    def failing(_db):
        raise OperationalError("INSERT INTO runs", {}, sqlite3.OperationalError("disk I/O error"))
        yield

    monkeypatch.setattr(store, "writing", failing)


@contextlib.contextmanager
def read_only_history(folder):
    """A migrated history file made read-only, in a read-only folder. chmod does not stop root: there the files get
    the immutable attribute (chattr +i), which does; the test skips only where neither works."""
    folder.mkdir()
    path = folder / "history.sqlite"
    assert state.history_state(path).writable  # creates and migrates it
    path.chmod(0o444)
    folder.chmod(0o555)
    locked = []
    try:
        for item in (path, folder) if _writable(path) else ():
            with contextlib.suppress(OSError):
                if subprocess.run(["chattr", "+i", item], capture_output=True).returncode == 0:
                    locked.append(item)
        if _writable(path):
            pytest.skip("neither chmod nor chattr +i stops this user from writing the file")
        yield str(path)
    finally:
        for item in reversed(locked):
            subprocess.run(["chattr", "-i", item], capture_output=True)
        folder.chmod(0o755)


def _writable(path) -> bool:
    try:
        with open(path, "r+b"):
            return True
    except OSError:
        return False


def _predicts_with_a_warning(result, out) -> None:
    assert result.returncode == 0, result.stderr
    assert "warning: this run was not recorded in the prediction history" in result.stderr
    assert "internal error" not in result.stderr
    assert_no_traceback(result)
    assert len(pd.read_csv(out)) == 50  # the user's results are there


def test_predict_on_a_full_disk_history_exits_0_with_a_plain_warning(models, demo_upload, tmp_path, full_disk):
    out = tmp_path / "results.csv"
    result = run_cli("predict", "--data", demo_upload, "--out", out, "--models-dir", models)
    _predicts_with_a_warning(result, out)
    assert "disk I/O error" in result.stderr


def test_predict_with_a_directory_where_the_history_file_should_be(models, demo_upload, tmp_path, monkeypatch):
    (tmp_path / "history.sqlite").mkdir()  # works as root too: SQLite cannot open a directory
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    out = tmp_path / "results.csv"
    _predicts_with_a_warning(run_cli("predict", "--data", demo_upload, "--out", out, "--models-dir", models), out)


def test_predict_with_a_read_only_history_file(models, demo_upload, tmp_path, monkeypatch):
    out = tmp_path / "results.csv"
    with read_only_history(tmp_path / "h") as path:
        monkeypatch.setenv("DON_HISTORY_DB", path)
        result = run_cli("predict", "--data", demo_upload, "--out", out, "--models-dir", models)
    _predicts_with_a_warning(result, out)
    assert "(the history database cannot be used: " in result.stderr


def test_the_history_state_names_why_it_does_not_record(tmp_path, full_disk):
    (tmp_path / "dir.sqlite").mkdir()
    broken = state.history_state(tmp_path / "dir.sqlite")
    assert not broken.writable and broken.text.startswith("not writable: cannot be opened")

    db = tmp_path / "history.sqlite"
    assert state.history_state(db) == state.HistoryState(True, "reachable and writable")
    state.note_write(db, OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error")))
    failed = state.history_state(db)  # the probe passes on a full disk: the failed write says it
    assert not failed.writable and "the last run could not be written" in failed.text
    assert failed.text.endswith(": disk I/O error")
    state.note_write(db)  # a run written again: recording works
    assert state.history_state(db).writable


def test_a_read_only_history_is_not_writable(tmp_path):
    with read_only_history(tmp_path / "h") as path:
        found = state.history_state(path)
    assert not found.writable and found.text.startswith("not writable: ")  # then SQLite's own words


def test_a_database_server_that_does_not_answer_is_not_reachable():
    from appserver import free_port

    found = state.history_state(f"postgresql+psycopg://don:secret@127.0.0.1:{free_port()}/don")
    assert not found.writable and found.text.startswith("not reachable: cannot be opened")
    assert "secret" not in found.text


def test_health_is_degraded_when_the_history_cannot_be_written(tmp_path):
    (tmp_path / "dir.sqlite").mkdir()
    health = check_health(Registry(tmp_path / "models"), history_db=tmp_path / "dir.sqlite")
    assert health.status == "DEGRADED" and not health.history.writable
    assert any(r.startswith("the prediction history does not record runs: not writable") for r in health.reasons)


@pytest.mark.parametrize("page", ["pages/status.py", "pages/history.py"])
def test_status_and_history_pages_say_runs_are_not_recorded(page, tmp_path, monkeypatch):
    (tmp_path / "dir.sqlite").mkdir()
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "dir.sqlite"))
    monkeypatch.setenv("DON_MODELS_DIR", str(tmp_path / "models"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    warnings = " ".join(w.value for w in at.warning)
    assert "not writable: cannot be opened" in warnings and "Predictions still work" in warnings
    if page == "pages/status.py":
        assert not at.success and "the prediction history does not record runs" in at.error[0].value
    assert os.path.isdir(tmp_path / "dir.sqlite")

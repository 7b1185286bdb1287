"""A training whose app process was killed (kill -9, a restart) is lost at once on its own host: Status no longer
shows it running and Train is not refused for the two minutes its heartbeat takes to go stale (issue 21). Other
hosts' jobs are still judged by their heartbeat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from don_predictor.services import jobs
from don_predictor.store.history import job_store

TRAINING_REPLICA = """
import threading
from don_predictor.services.jobs import start_job
start_job("training", lambda progress: threading.Event().wait(600), description="RF on a.csv", backends=("rf",))
print("started", flush=True)
threading.Event().wait(600)
"""
ROW = {"title": "training", "description": "RF", "user_name": None, "state": "running", "backends": "rf"}


@pytest.fixture()
def db(tmp_path, monkeypatch):
    monkeypatch.delenv("DON_HISTORY_URL", raising=False)
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    monkeypatch.setenv("DON_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "history.sqlite"


def wait_for(job: jobs.Job) -> None:
    for thread in [t for t in threading.enumerate() if t.name == f"job-{job.title}"]:
        thread.join(30)


@pytest.mark.parametrize("after_kill", ["reaped", "zombie"])
def test_a_killed_training_is_lost_at_once_and_training_starts_again(db, after_kill):
    replica = subprocess.Popen(
        [sys.executable, "-c", TRAINING_REPLICA],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert replica.stdout.readline().strip() == "started"
        assert job_store.latest(db)["state"] == "running"  # alive: left alone
        os.kill(replica.pid, signal.SIGKILL)
        if after_kill == "reaped":
            replica.wait(30)
        else:  # killed, not yet waited for by its parent: a zombie keeps its pid
            while job_store.psutil.Process(replica.pid).status() != job_store.psutil.STATUS_ZOMBIE:
                threading.Event().wait(0.05)
        shown = jobs.latest_job()
        assert shown.state == "lost" and shown.error == job_store.DIED_HERE and not shown.running
        job = jobs.start_job("training", lambda progress: "done", description="RF again", backends=("rf",))
        wait_for(job)
        assert job.state == "done"
    finally:
        replica.kill()
        replica.wait(30)


def test_the_status_page_says_the_killed_training_was_lost(db):
    job_store.claim(db, "a" * 32, ["rf"], {**ROW, "fraction": 0.01, "message": "fold 1"})
    with job_store.engine(db).begin() as connection:  # as if a process that has since ended had claimed it
        connection.execute(
            job_store.update(job_store.t.jobs).values(
                owner=f"{job_store.HOST}:999999999/1.00/{job_store.PID_NAMESPACE}"
            )
        )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/status.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not any("Running" in i.value for i in at.info)
    assert any(f"was lost ({job_store.DIED_HERE})" in c.value for c in at.caption)


def test_a_pid_now_used_by_another_process_is_lost(db, monkeypatch):
    """After a container restart the app often gets the same pid again: its start time tells the processes apart."""
    started = job_store._start_time(os.getpid())
    earlier = f"{job_store.HOST}:{os.getpid()}/{started - 3600:.2f}/{job_store.PID_NAMESPACE}"
    monkeypatch.setattr(job_store, "this_owner", lambda: earlier)
    job_store.claim(db, "a" * 32, ["rf"], {**ROW, "fraction": 0.01, "message": "fold 1"})
    monkeypatch.undo()
    assert job_store.latest(db)["state"] == "lost"
    job_store.claim(db, "b" * 32, ["rf"], {**ROW, "fraction": 0.0, "message": "starting"})  # not refused


def test_a_live_job_and_another_hosts_job_are_left_running(db, monkeypatch):
    job_store.claim(db, "a" * 32, ["rf"], {**ROW, "fraction": 0.3, "message": "fold 2"})  # this live process
    assert job_store.latest(db)["state"] == "running"
    monkeypatch.setattr(job_store, "this_owner", lambda: "replica-b:1/5.00/4026531836")
    job_store.claim(db, "b" * 32, ["tf"], {**ROW, "backends": "tf", "fraction": 0.2, "message": "fitting"})
    monkeypatch.undo()
    for slot in ("rf", "tf"):  # neither is taken over: one is alive here, the other's heartbeat is fresh
        with pytest.raises(job_store.SlotTaken):
            job_store.claim(db, "c" * 32, [slot], {**ROW, "fraction": 0.0, "message": "starting"})

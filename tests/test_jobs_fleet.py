"""Training jobs across replicas, on SQLite and PostgreSQL: a job one process runs is visible to another, which
cannot start the same backend but can start another; a job whose replica died is taken over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from pg_server import fresh_database
from sqlalchemy import update

from don_predictor.services import jobs
from don_predictor.store.history import engine, job_store
from don_predictor.store.history import tables as t

ROOT = Path(__file__).resolve().parents[1]

OTHER_REPLICA = """
import json, threading
from don_predictor.services.jobs import JobBusyError, latest_job, start_job
shown = latest_job()
out = {"shown": [shown.description, shown.state, shown.owner is not None, round(shown.fraction, 2)]}
try:
    start_job("training", lambda progress: None, description="RF again", backends=("rf",))
    out["rf"] = "started"
except JobBusyError as error:
    out["rf"] = str(error)
job = start_job("training", lambda progress: "ok", description="TF on b.csv", backends=("tf",))
while job.running:
    threading.Event().wait(0.05)
out["tf"] = job.state
print(json.dumps(out))
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def fleet_db(request, tmp_path, monkeypatch):
    monkeypatch.delenv("DON_HISTORY_URL", raising=False)
    if request.param == "sqlite":
        monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "h.sqlite"))
        return tmp_path / "h.sqlite"
    url = fresh_database()
    monkeypatch.setenv("DON_HISTORY_URL", url)
    return url


def test_a_job_is_seen_by_another_replica_which_cannot_train_the_same_backend(fleet_db):
    release = threading.Event()

    def work(progress):
        progress(0.4, "RF cross-validation fold 2 of 5")
        release.wait(60)
        return "done"

    job = jobs.start_job("training", work, description="RF on a.csv", user="ann", backends=("rf",))
    try:
        job_store.beat(fleet_db, job.job_id, job.fraction, job.message)  # what the heartbeat thread does
        other = subprocess.run(
            [sys.executable, "-c", OTHER_REPLICA],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.returncode == 0, other.stderr
        out = json.loads(other.stdout.strip().splitlines()[-1])
        assert out["shown"] == ["RF on a.csv", "running", True, 0.4]
        assert "already training on another app replica (started by ann)" in out["rf"]
        assert out["tf"] == "done"
    finally:
        release.set()
    while job.running:
        threading.Event().wait(0.05)
    row = job_store.latest(fleet_db)
    assert row["state"] in ("done",) and job_store.running_in(fleet_db, ["rf", "tf"]) is None


def test_a_job_whose_replica_died_is_taken_over(fleet_db):
    row = {"title": "training", "description": "RF", "user_name": None, "state": "running", "backends": "rf"}
    job_store.claim(fleet_db, "a" * 32, ["rf"], {**row, "fraction": 0.1, "message": "fitting"})
    with pytest.raises(job_store.SlotTaken):
        job_store.claim(fleet_db, "b" * 32, ["rf"], {**row, "fraction": 0.0, "message": "starting"})
    long_ago = t.utc_now() - job_store.STALE_AFTER - timedelta(seconds=5)
    with engine(fleet_db).begin() as connection:
        connection.execute(update(t.jobs).values(heartbeat_at=long_ago))
        connection.execute(update(t.job_slots).values(heartbeat_at=long_ago))
    assert job_store.latest(fleet_db)["state"] == "lost"
    job_store.claim(fleet_db, "c" * 32, ["rf"], {**row, "fraction": 0.0, "message": "starting"})
    assert job_store.running_in(fleet_db, ["rf"])["job_id"] == "c" * 32

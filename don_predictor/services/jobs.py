"""Background jobs (training) that keep the page responsive and report progress by stage, with an estimate of the
time left.

One job runs at a time in the process: on a small machine two trainings would only slow each other down, and a
second click must never start a second run. Across replicas, a job claims its backends in the history database's
jobs table (history/job_store.py): one job per backend in the whole fleet, and every replica's Status page shows the
newest job of any replica. When the database cannot be reached, the job still runs, for this process only.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from don_predictor import tracing
from don_predictor.config import settings
from don_predictor.logs import event
from don_predictor.modeling.backends.base import ProgressCallback
from don_predictor.services import metrics
from don_predictor.store.history import job_store

_one_at_a_time = threading.Lock()
_latest: Job | None = None
_remote: dict[str, Job] = {}  # job_id -> the Job shown for another replica's job (the same object on every look)
HEARTBEAT_S = 5.0
MIN_FRACTION_FOR_ESTIMATE = 0.03  # before this, an estimate of the time left would be a guess


class JobBusyError(RuntimeError):
    """Another job is still running."""


@dataclass
class Job:
    title: str
    description: str = ""  # what runs, for the Status page: "RF, TF on corn.csv"
    user: str | None = None
    state: str = "running"  # running, done, failed
    fraction: float = 0.0
    message: str = "starting"
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    owner: str | None = None  # host:pid of another replica running it; None for this process's own jobs

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def seconds(self) -> float:
        return (self.finished or time.time()) - self.started

    @property
    def seconds_left(self) -> float | None:
        """Elapsed time scaled by the work left, once enough is done to say; None before."""
        if not self.running or self.fraction < MIN_FRACTION_FOR_ESTIMATE:
            return None
        return self.seconds * (1 - self.fraction) / self.fraction

    def progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = min(max(fraction, self.fraction, 0.0), 1.0), message

    def status_line(self) -> str:
        """'RF: cross-validation fold 2 of 5 · 41 s elapsed · about 1 min left'."""
        left = self.seconds_left
        estimate = "" if left is None else f" · about {format_duration(left)} left"
        return f"{self.message} · {format_duration(self.seconds)} elapsed{estimate}"


def plain_reason(error: Exception) -> str:
    """A message for the page: bad input (ValueError) as it is, anything else with its type."""
    return str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:,.0f} s"
    return f"{seconds / 60:,.0f} min" if seconds < 5400 else f"{seconds / 3600:,.1f} h"


def latest_job() -> Job | None:
    """The job to show: this process's running job, else the newest of any replica (running ones first)."""
    local = _latest
    if local is not None and local.running:
        return local
    try:
        row = job_store.latest(settings().history_db)
    except Exception:  # the database is down: this process's own job is still worth showing
        return local
    if row is None or (local is not None and row["job_id"] == local.job_id):
        return local
    if local is not None and row["state"] != "running" and local.started >= row["started_at"].timestamp():
        return local
    return _shown(row)


def _shown(row: dict) -> Job:
    job = _remote.setdefault(row["job_id"], Job(row["title"], job_id=row["job_id"]))
    job.description, job.user, job.state = row["description"], row["user_name"], row["state"]
    job.owner = job_store.shown_owner(row["owner"])
    job.fraction, job.message, job.error = row["fraction"], row["message"], row["error"]
    job.started = row["started_at"].timestamp()
    job.finished = row["finished_at"].timestamp() if row["finished_at"] else None
    return job


def start_job(
    title: str,
    work: Callable[[ProgressCallback], Any],
    *,
    description: str = "",
    user: str | None = None,
    backends: tuple[str, ...] = (),
) -> Job:
    """Run work(progress) in a daemon thread; raises JobBusyError when another job is running in this process, or
    in any replica for one of `backends` (no backends: one such job at a time in the fleet)."""
    global _latest
    if not _one_at_a_time.acquire(blocking=False):
        metrics.TRAINING_REFUSALS.inc()
        raise JobBusyError("another training is running in this app; wait for it to finish")
    job = Job(title, description, user)
    db = settings().history_db
    shared = _claim(db, job, backends)  # raises JobBusyError (and releases the lock) when a replica holds a backend
    _latest = job
    stop_beating = threading.Event()
    if shared:
        threading.Thread(target=_heartbeat, args=(db, job, stop_beating), name=f"beat-{title}", daemon=True).start()

    parent = tracing.carrier()  # the page's trace: the job's span is its child, though it runs in another thread

    def run() -> None:
        state = "failed"
        try:
            with tracing.attached(parent), tracing.span("training.job", backends=",".join(backends) or None):
                job.result = work(job.progress)
            state = "done"
        except Exception as error:  # reported on the page; the traceback goes to the server log only
            job.error = plain_reason(error)
            event("job_failed", logging.ERROR, job=title, error=job.error)
            traceback.print_exc()  # the cause, for the operator's log
        finally:
            stop_beating.set()
            if shared:  # before the state flips: whoever waits for the job sees it ended everywhere
                _shared(job_store.finish, db, job.job_id, state, job.fraction, job.message, job.error)
            job.finished = time.time()
            job.state = state
            metrics.observe_training(job.state, job.seconds)
            _one_at_a_time.release()

    threading.Thread(target=run, name=f"job-{title}", daemon=True).start()
    return job


def _claim(db, job: Job, backends: tuple[str, ...]) -> bool:
    """Claim the job's backends fleet-wide; False when the database cannot be reached (the job runs unshared)."""
    row = {"title": job.title, "description": job.description, "user_name": job.user, "state": "running"}
    row |= {"backends": ",".join(backends), "fraction": 0.0, "message": job.message}
    # One training per user across the fleet: the user's own slot, taken with the backends' (all or nothing).
    mine = [f"user:{job.user}"] if job.user else []
    try:
        job_store.claim(db, job.job_id, (list(backends) or [job.title]) + mine, row)
    except job_store.SlotTaken as error:
        _one_at_a_time.release()
        metrics.TRAINING_REFUSALS.inc()
        if mine and _holds(db, mine):
            raise JobBusyError("you already have a training running (one per user); wait for it to finish") from None
        raise JobBusyError(str(error)) from None
    except Exception as error:
        event("job_not_shared", logging.WARNING, job=job.title, error=f"{type(error).__name__}: {error}")
        return False
    return True


def _holds(db, slots: list[str]) -> bool:
    try:
        return job_store.running_in(db, slots) is not None
    except Exception:  # the message is then the generic one
        return False


def _heartbeat(db, job: Job, stop: threading.Event) -> None:
    """Progress and liveness into the jobs table every few seconds, until the job ends."""
    while not stop.wait(HEARTBEAT_S):
        _shared(job_store.beat, db, job.job_id, job.fraction, job.message)


def _shared(write: Callable, *args) -> None:
    try:
        write(*args)
    except Exception as error:  # the job itself goes on; other replicas see it stale
        event("job_write_failed", logging.WARNING, error=f"{type(error).__name__}: {error}")

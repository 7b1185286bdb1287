"""Background jobs (training) that keep the page responsive and report progress by stage, with an estimate of the
time left.

One job runs at a time in the process: on a small machine two trainings would only slow each other down, and a
second click must never start a second run. The last job started is kept process-wide, so the Status page (any
session) can show what runs, since when and how far it is.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from don_predictor import metrics
from don_predictor.backends.base import ProgressCallback
from don_predictor.logs import event

_one_at_a_time = threading.Lock()
_latest: Job | None = None
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
    """The last job started in this process (running or ended)."""
    return _latest


def start_job(
    title: str, work: Callable[[ProgressCallback], Any], *, description: str = "", user: str | None = None
) -> Job:
    """Run work(progress) in a daemon thread; raises JobBusyError when another job is running."""
    global _latest
    if not _one_at_a_time.acquire(blocking=False):
        raise JobBusyError("another training is running in this app; wait for it to finish")
    job = Job(title, description, user)
    _latest = job

    def run() -> None:
        try:
            job.result = work(job.progress)
            job.state = "done"
        except Exception as error:  # reported on the page; the traceback goes to the server log only
            job.error = plain_reason(error)
            job.state = "failed"
            event("job_failed", logging.ERROR, job=title, error=job.error)
            traceback.print_exc()  # the cause, for the operator's log
        finally:
            job.finished = time.time()
            metrics.observe_training(job.state, job.seconds)
            _one_at_a_time.release()

    threading.Thread(target=run, name=f"job-{title}", daemon=True).start()
    return job

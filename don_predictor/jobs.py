"""Background jobs (training) that keep the page responsive and report progress.

One job runs at a time in the process: on a small machine two trainings would only slow each other down, and a
second click must never start a second run.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from don_predictor.backends.base import ProgressCallback
from don_predictor.logs import event

_one_at_a_time = threading.Lock()


class JobBusyError(RuntimeError):
    """Another job is still running."""


@dataclass
class Job:
    title: str
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

    def progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = min(max(fraction, 0.0), 1.0), message


def start_job(title: str, work: Callable[[ProgressCallback], Any]) -> Job:
    """Run work(progress) in a daemon thread; raises JobBusyError when another job is running."""
    if not _one_at_a_time.acquire(blocking=False):
        raise JobBusyError("another training is running in this app; wait for it to finish")
    job = Job(title)

    def run() -> None:
        try:
            job.result = work(job.progress)
            job.state = "done"
        except Exception as error:  # reported on the page; the traceback goes to the server log only
            job.error = f"{type(error).__name__}: {error}" if not isinstance(error, ValueError) else str(error)
            job.state = "failed"
            event("job_failed", logging.ERROR, job=title, error=job.error)
            traceback.print_exc()  # the cause, for the operator's log
        finally:
            job.finished = time.time()
            _one_at_a_time.release()

    threading.Thread(target=run, name=f"job-{title}", daemon=True).start()
    return job

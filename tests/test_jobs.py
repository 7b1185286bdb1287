"""Background jobs in one process: a second job is refused while one runs, a failing job says why and frees the slot,
progress only moves forward, and a history database that cannot be reached does not stop a job."""

from __future__ import annotations

import threading

import pytest

from don_predictor.services import jobs


@pytest.fixture(autouse=True)
def own_history(tmp_path, monkeypatch):
    """Each test claims its jobs in its own history database (the fleet-wide job slots live there)."""
    monkeypatch.delenv("DON_HISTORY_URL", raising=False)
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))


@pytest.fixture()
def events(monkeypatch) -> list[tuple[str, dict]]:
    """The log events the jobs write (name, context)."""
    seen: list[tuple[str, dict]] = []
    monkeypatch.setattr(jobs, "event", lambda name, *level, **context: seen.append((name, context)))
    return seen


def wait_for(job: jobs.Job, timeout: float = 30) -> jobs.Job:
    """Join the job's thread: when it has ended, the state is final and the slot is free."""
    (thread,) = [t for t in threading.enumerate() if t.name == f"job-{job.title}"] or [None]
    if thread is not None:
        thread.join(timeout)
    assert not job.running, f"{job.title} did not end in {timeout} s"
    return job


def test_a_second_job_is_refused_while_one_runs_and_starts_once_it_ended():
    release = threading.Event()
    first = jobs.start_job("busy-first", lambda progress: release.wait(30) and "first done", description="RF")
    try:
        assert jobs.latest_job() is first and first.running
        with pytest.raises(jobs.JobBusyError, match="another training is running in this app"):
            jobs.start_job("busy-second", lambda progress: "never")
        assert jobs.latest_job() is first  # the refused job left no trace
    finally:
        release.set()
    assert wait_for(first).state == "done" and first.result == "first done" and first.error is None
    second = wait_for(jobs.start_job("busy-third", lambda progress: "third done"))
    assert second.state == "done" and second.result == "third done"
    assert jobs.latest_job() is second


def test_a_job_held_by_another_replica_is_refused_and_frees_this_process(monkeypatch):
    def taken(*args, **kwargs):
        raise jobs.job_store.SlotTaken("RF is already training on another app replica (started by ann)")

    real = jobs.job_store.claim
    monkeypatch.setattr(jobs.job_store, "claim", taken)
    with pytest.raises(jobs.JobBusyError, match="already training on another app replica"):
        jobs.start_job("replica-held", lambda progress: "never", backends=("rf",))
    monkeypatch.setattr(jobs.job_store, "claim", real)
    job = wait_for(jobs.start_job("replica-after", lambda progress: "ok", backends=("rf",)))  # the lock was released
    assert job.state == "done"


@pytest.mark.parametrize(
    "error,shown",
    [
        (ValueError("only 5 rows can be used for training"), "only 5 rows can be used for training"),
        (RuntimeError("out of memory"), "RuntimeError: out of memory"),
    ],
)
def test_a_failing_job_says_why_and_frees_the_slot(error, shown, events):
    def work(progress):
        progress(0.3, "fitting")
        raise error

    job = wait_for(jobs.start_job(f"fails-{type(error).__name__}", work, description="TF on a.csv"))
    assert job.state == "failed" and job.error == shown and job.result is None
    assert job.finished is not None and job.fraction == pytest.approx(0.3)
    assert jobs.latest_job() is job  # the Status page shows the failure and its reason
    assert ("job_failed", {"job": job.title, "error": shown}) in events  # and the traceback, to the server log
    assert wait_for(jobs.start_job(f"after-{type(error).__name__}", lambda progress: 1)).state == "done"


def test_a_history_that_cannot_be_reached_does_not_stop_a_job(monkeypatch, events):
    def down(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(jobs.job_store, "claim", down)
    job = wait_for(jobs.start_job("unshared", lambda progress: "ran anyway", backends=("rf",)))
    assert job.state == "done" and job.result == "ran anyway"
    assert [name for name, _ in events] == ["job_not_shared"]
    assert "connection refused" in events[0][1]["error"]


def test_progress_only_moves_forward_and_the_estimate_waits_for_enough_work():
    job = jobs.Job("progress")
    job.progress(0.01, "starting")
    assert job.seconds_left is None  # under 3 % done: no guess
    job.progress(0.5, "fold 3 of 5")
    job.progress(0.2, "a late report")  # an older report never moves the bar back
    assert job.fraction == 0.5 and job.message == "a late report"
    job.progress(7.0, "done")
    assert job.fraction == 1.0
    job.started -= 60
    job.fraction = 0.25
    assert job.seconds_left == pytest.approx(180, rel=0.05)  # 60 s for a quarter: about 3 min left
    assert "elapsed · about 3 min left" in job.status_line()
    job.state = "done"
    assert job.seconds_left is None


@pytest.mark.parametrize(
    "seconds,text", [(-1, "0 s"), (0, "0 s"), (89, "89 s"), (90, "2 min"), (5399, "90 min"), (5400, "1.5 h")]
)
def test_durations_read_plainly(seconds, text):
    assert jobs.format_duration(seconds) == text


def test_only_a_job_of_this_app_blocks_the_train_button():
    # Jobs run one at a time per process; across replicas, one per backend (start_job refuses only that backend).
    from don_predictor.ui.training_panels import blocks_training

    assert blocks_training(jobs.Job("training")) is True  # another session of this process
    assert blocks_training(jobs.Job("training", owner="replica-b:4242")) is False  # another replica's RF job
    assert blocks_training(None) is False

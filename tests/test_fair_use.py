"""Fair use under load (services/fair_use.py): a first-come queue with a cap on concurrent scorings and on rows in
flight, a per-user rows-per-minute budget, refusals that say "busy: N uploads ahead of you, about M s", metrics
for waits and refusals, one training per user across replicas, and the page's message when an upload is refused."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import ROOT
from prometheus_client import REGISTRY

from don_predictor.services import fair_use, jobs
from don_predictor.services.fair_use import Busy, Limits, ScoringQueue

LIMITS = Limits(concurrent=1, rows_in_flight=1000, user_rows_per_minute=0, queue_max=10, queue_timeout_s=30)


def _count(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Holder:
    """A thread holding a slot of `queue` until released; records what it was told while waiting."""

    def __init__(self, queue: ScoringQueue, rows: int, user: str, order: list):
        self.told: list[tuple[int, float]] = []
        self.started, self.release, self.error = threading.Event(), threading.Event(), None
        self.thread = threading.Thread(target=self._run, args=(queue, rows, user, order), daemon=True)
        self.thread.start()

    def _run(self, queue, rows, user, order) -> None:
        try:
            with queue.slot(rows, user, lambda ahead, s: self.told.append((ahead, s))):
                order.append(self)
                self.started.set()
                self.release.wait(30)
        except Busy as error:
            self.error = error
            self.started.set()


def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_one_scoring_at_a_time_first_come_first_served_and_each_waiter_told_its_place():
    queue, order = ScoringQueue(LIMITS), []
    queue.seconds_per_row = 0.01
    waits = _count("don_fair_use_waits_total", cause="queue")
    first = Holder(queue, 400, "a", order)
    first.started.wait(5)
    second = Holder(queue, 400, "b", order)
    _until(lambda: second.told)
    third = Holder(queue, 400, "c", order)
    _until(lambda: third.told)
    assert not second.started.is_set() and not third.started.is_set(), "the cap holds the others back"
    assert second.told[0][0] == 1 and third.told[0][0] == 2  # uploads ahead: the running one, then the waiting one
    assert third.told[0][1] > second.told[0][1] > 0  # more rows ahead: a longer wait
    # The estimate: the running upload half done plus the waiting ones, at the recent seconds per row.
    assert third.told[0][1] == pytest.approx((200 + 400) * 0.01)
    first.release.set()
    second.started.wait(5)
    assert order == [first, second] and not third.started.is_set()
    second.release.set()
    third.started.wait(5)
    third.release.set()
    assert order == [first, second, third]
    assert _count("don_fair_use_waits_total", cause="queue") - waits == 2


def test_rows_in_flight_are_capped_even_with_a_free_slot_and_one_big_upload_runs_alone():
    limits = Limits(concurrent=2, rows_in_flight=500, user_rows_per_minute=0, queue_max=10, queue_timeout_s=30)
    queue, order = ScoringQueue(limits), []
    big = Holder(queue, 2000, "a", order)  # above the cap: runs, alone
    big.started.wait(5)
    small = Holder(queue, 100, "b", order)
    _until(lambda: small.told)
    assert not small.started.is_set()
    big.release.set()
    small.started.wait(5)
    other = Holder(queue, 300, "c", order)  # 100 + 300 <= 500: beside it
    other.started.wait(5)
    assert order == [big, small, other]
    small.release.set()
    other.release.set()


def test_a_full_queue_and_a_long_wait_are_refused_with_the_place_and_the_time():
    limits = Limits(concurrent=1, rows_in_flight=1000, user_rows_per_minute=0, queue_max=1, queue_timeout_s=1)
    queue, order = ScoringQueue(limits), []
    full, timeout = (
        _count("don_fair_use_refusals_total", cause="queue_full"),
        _count("don_fair_use_refusals_total", cause="timeout"),
    )
    running = Holder(queue, 400, "a", order)
    running.started.wait(5)
    waiting = Holder(queue, 400, "b", order)
    _until(lambda: waiting.told)
    full_queue = pytest.raises(Busy, match=r"^busy: 2 uploads ahead of you, about \d+ s \(the queue is full")
    with full_queue, queue.slot(10, "c"):
        pass
    waiting.thread.join(5)  # gives up after the 1 s timeout
    assert isinstance(waiting.error, Busy) and str(waiting.error).startswith("busy: 1 upload ahead of you, about ")
    running.release.set()
    assert order == [running]
    assert _count("don_fair_use_refusals_total", cause="queue_full") - full == 1
    assert _count("don_fair_use_refusals_total", cause="timeout") - timeout == 1
    with queue.slot(10, "c"):  # the queue works on after refusals
        assert queue.position(fair_use._Ticket(-1, 1, "x"))[0] == 1


class FakeTime:
    def __init__(self):
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_user_over_the_budget_waits_for_the_minute_or_is_refused_and_others_are_not_held_up():
    limits = Limits(concurrent=1, rows_in_flight=10_000, user_rows_per_minute=500, queue_max=10, queue_timeout_s=30)
    fake = FakeTime()
    queue = ScoringQueue(limits, clock=fake.clock, sleep=fake.sleep)
    with queue.slot(400, "alice"):
        pass
    fake.now += 10
    refused = _count("don_fair_use_refusals_total", cause="budget")
    # 400 + 400 > 500 until the first 400 leave the minute, 50 s from now: longer than the 30 s timeout.
    spent = pytest.raises(Busy, match=r"^busy: 0 uploads ahead of you, about 50 s \(your 500 rows a minute are spent")
    with spent, queue.slot(400, "alice"):
        pass
    assert _count("don_fair_use_refusals_total", cause="budget") - refused == 1
    with queue.slot(400, "bob"):  # another user's budget is his own
        pass
    fake.now += 35  # the first 400 leave the window in 15 s: within the timeout, so alice waits, told how long
    told = []
    with queue.slot(400, "alice", lambda ahead, seconds: told.append(seconds)):
        assert fake.now == pytest.approx(1000 + 60)
    assert told[0] == pytest.approx(15) and told == sorted(told, reverse=True)
    with queue.slot(100, "alice"):  # 400 + 100 within the budget: no wait
        assert fake.now == pytest.approx(1060)


def test_one_training_per_user_across_replicas(tmp_path, monkeypatch):
    from don_predictor.store.history import job_store

    monkeypatch.delenv("DON_HISTORY_URL", raising=False)
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "h.sqlite"))
    db = tmp_path / "h.sqlite"
    refused = _count("don_training_refusals_total")
    # Another replica runs alice's TF training: she may not start an RF one here; bob may.
    row = {"title": "training", "description": "TF", "user_name": "alice", "state": "running", "backends": "tf"}
    job_store.claim(db, "other-replica-job", ["tf", "user:alice"], row | {"fraction": 0.0, "message": ""})
    with pytest.raises(jobs.JobBusyError, match="you already have a training running"):
        jobs.start_job("training", lambda progress: None, user="alice", backends=("rf",))
    assert _count("don_training_refusals_total") - refused == 1
    job = jobs.start_job("training", lambda progress: "ok", user="bob", backends=("rf",))
    _until(lambda: not job.running)
    assert job.state == "done"


@pytest.mark.slow
def test_the_page_says_busy_with_the_place_when_an_upload_is_refused(trained_registry, demo_upload, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from don_predictor.ui import fair_turn

    monkeypatch.setenv("DON_MODELS_DIR", str(trained_registry.root))
    monkeypatch.setenv("DON_SCORING_QUEUE_TIMEOUT", "1")
    queue, order = fair_use.scoring_queue(fair_turn._limits()), []
    other = Holder(queue, 400, "someone else", order)  # another session scoring
    other.started.wait(5)
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.switch_page("pages/compare.py")
        at.run()
        # Bytes no other test scored: a page reuses the kept scores of a file it has seen, which need no turn.
        fresh = demo_upload.read_bytes().replace(b"\n", b"\r\n")
        at.file_uploader(key="compare_file").set_value(("demo_upload.csv", fresh, "text/csv"))
        at.run()
    finally:
        other.release.set()
    errors = [e.value for e in at.error]
    assert any(e.startswith("busy: 1 upload ahead of you, about ") for e in errors), errors
    assert not [df for df in at.dataframe if "status" in df.value.columns], "nothing scored, nothing shown as scored"
    at.run()  # dropped again, with the slot free: scored
    assert not at.error and [df for df in at.dataframe if "status" in df.value.columns]

"""Fair use of one process under load: a first-come queue in front of scoring, with a cap on concurrent scorings
and on rows being scored at once, and a per-user budget of rows per minute.

A page that waits says where it stands ("busy: N uploads ahead of you, about M s") every half second, and gives up
with the same kind of message after the queue timeout: never a silent stall. The wait estimate is the rows ahead
of you times the recent seconds per row (an exponential average of the scorings this process has done).
Scores reused from a cache cost nothing and skip the queue (ui/scored_upload.py).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from don_predictor.services import metrics

SECONDS_PER_ROW_START = 0.01  # before the first scoring: ~4 s for the 400-row file with both models on 2 cores
BUDGET_WINDOW_S = 60.0


class Busy(Exception):
    """Refused: the queue is full, the wait would pass the timeout, or the user's budget is spent for a while."""

    def __init__(self, ahead: int, seconds: float, reason: str):
        self.ahead, self.seconds, self.reason = ahead, seconds, reason
        super().__init__(busy_message(ahead, seconds, reason))


def busy_message(ahead: int, seconds: float, reason: str = "") -> str:
    uploads = "upload" if ahead == 1 else "uploads"
    text = f"busy: {ahead} {uploads} ahead of you, about {max(1, round(seconds))} s"
    return f"{text} ({reason})" if reason else text


@dataclass
class _Ticket:
    number: int
    rows: int
    user: str


@dataclass(frozen=True)
class Limits:
    concurrent: int  # scorings at once in this process
    rows_in_flight: int  # rows being scored at once (one upload bigger than this still runs, alone)
    user_rows_per_minute: int  # 0: no budget
    queue_max: int  # uploads waiting at once; more are refused at once
    queue_timeout_s: float  # a wait longer than this is refused


class ScoringQueue:
    def __init__(
        self, limits: Limits, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ):
        self.limits, self.clock, self.sleep = limits, clock, sleep
        self._cond = threading.Condition()
        self._waiting: collections.deque[_Ticket] = collections.deque()
        self._running: list[_Ticket] = []
        self._numbers = itertools.count()
        self._spent: dict[str, collections.deque[tuple[float, int]]] = collections.defaultdict(collections.deque)
        self.seconds_per_row = SECONDS_PER_ROW_START

    # --- what a waiting user is told ----------------------------------------------------------------------------
    def position(self, ticket: _Ticket) -> tuple[int, float]:
        """(uploads ahead, seconds until this one starts, roughly): the running ones count as ahead."""
        with self._cond:
            return self._position(ticket)

    def _position(self, ticket: _Ticket) -> tuple[int, float]:
        ahead = list(itertools.takewhile(lambda t: t is not ticket, self._waiting))
        rows = sum(t.rows for t in self._running) / 2 + sum(t.rows for t in ahead)  # the running: half done
        return len(ahead) + len(self._running), rows * self.seconds_per_row / self.limits.concurrent

    def _budget_wait(self, ticket: _Ticket) -> float:
        """Seconds until the user's last minute leaves room for these rows (0: now)."""
        budget = self.limits.user_rows_per_minute
        spent = self._spent[ticket.user]
        now = self.clock()
        while spent and spent[0][0] <= now - BUDGET_WINDOW_S:
            spent.popleft()
        total = sum(rows for _t, rows in spent)
        if not budget or not spent or total + ticket.rows <= budget:
            return 0.0  # an upload bigger than the whole budget still runs once the minute is clear
        freed = 0
        for moment, rows in spent:  # the oldest leave the window first
            freed += rows
            if total - freed + ticket.rows <= budget or freed == total:
                return moment + BUDGET_WINDOW_S - now
        return BUDGET_WINDOW_S

    def _may_start(self, ticket: _Ticket) -> bool:
        if self._waiting[0] is not ticket or len(self._running) >= self.limits.concurrent:
            return False
        in_flight = sum(t.rows for t in self._running)
        return not self._running or in_flight + ticket.rows <= self.limits.rows_in_flight

    # --- the queue ------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def slot(self, rows: int, user: str, say: Callable[[int, float], None] = lambda ahead, s: None) -> Iterator[None]:
        """Hold a scoring slot for `rows` rows of `user`'s; say(ahead, seconds) every half second while waiting.
        Raises Busy when the queue is full or the wait passes the timeout."""
        ticket = _Ticket(-1, max(1, rows), user)
        self._wait_for_budget(ticket, say)  # before the queue: a user over budget holds no one else up
        ticket = self._enter(rows, user)
        try:
            self._wait(ticket, say)
        except BaseException:
            with self._cond:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                self._cond.notify_all()
            raise
        started = self.clock()
        try:
            yield
        finally:
            self._leave(ticket, self.clock() - started)

    def _wait_for_budget(self, ticket: _Ticket, say: Callable[[int, float], None]) -> None:
        with self._cond:
            seconds = self._budget_wait(ticket)
            if not seconds:
                return
            ahead = len(self._waiting) + len(self._running)
            if seconds > self.limits.queue_timeout_s:
                metrics.FAIR_USE_REFUSALS.labels("budget").inc()
                budget = self.limits.user_rows_per_minute
                raise Busy(ahead, seconds, f"your {budget:,} rows a minute are spent: try again then")
        metrics.FAIR_USE_WAITS.labels("budget").inc()
        deadline = self.clock() + seconds
        while (left := deadline - self.clock()) > 0:
            with self._cond:
                ahead = len(self._waiting) + len(self._running)
            say(ahead, left)
            self.sleep(min(0.5, left))
        metrics.FAIR_USE_WAIT_SECONDS.observe(seconds)

    def _enter(self, rows: int, user: str) -> _Ticket:
        with self._cond:
            ticket = _Ticket(next(self._numbers), max(1, rows), user)
            if len(self._waiting) >= self.limits.queue_max:
                ahead, seconds = self._position(ticket)
                metrics.FAIR_USE_REFUSALS.labels("queue_full").inc()
                raise Busy(ahead, seconds, "the queue is full: try again then")
            self._waiting.append(ticket)
            metrics.SCORING_QUEUE.set(len(self._waiting))
            return ticket

    def _wait(self, ticket: _Ticket, say: Callable[[int, float], None]) -> None:
        entered = self.clock()
        waited = False
        with self._cond:
            while not self._may_start(ticket):
                ahead, seconds = self._position(ticket)
                if not waited:
                    waited = True
                    metrics.FAIR_USE_WAITS.labels("queue").inc()
                if self.clock() - entered > self.limits.queue_timeout_s:
                    metrics.FAIR_USE_REFUSALS.labels("timeout").inc()
                    raise Busy(ahead, seconds, "waited too long: try again then")
                self._cond.release()
                try:
                    say(ahead, seconds)
                finally:
                    self._cond.acquire()
                self._cond.wait(0.5)
            self._waiting.popleft()
            self._running.append(ticket)
            self._spent[ticket.user].append((self.clock(), ticket.rows))
            if len(self._spent) > 1000:  # sessions come and go: forget those with nothing left in the window
                cutoff = self.clock() - BUDGET_WINDOW_S
                for user in [u for u, spent in self._spent.items() if not spent or spent[-1][0] <= cutoff]:
                    del self._spent[user]
            metrics.SCORING_QUEUE.set(len(self._waiting))
            metrics.SCORING_IN_FLIGHT.set(len(self._running))
        if waited:
            metrics.FAIR_USE_WAIT_SECONDS.observe(self.clock() - entered)

    def _leave(self, ticket: _Ticket, seconds: float) -> None:
        with self._cond:
            self._running.remove(ticket)
            if seconds > 0:  # recent scorings count most: the load changes (a training starts, ends)
                self.seconds_per_row = 0.7 * self.seconds_per_row + 0.3 * seconds / ticket.rows
            metrics.SCORING_IN_FLIGHT.set(len(self._running))
            self._cond.notify_all()


_queue: ScoringQueue | None = None
_queue_lock = threading.Lock()


def scoring_queue(limits: Limits) -> ScoringQueue:
    """The process's one queue (settings are read once per process, as the rest of the settings)."""
    global _queue
    with _queue_lock:
        if _queue is None or _queue.limits != limits:
            _queue = ScoringQueue(limits)
        return _queue

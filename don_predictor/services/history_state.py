"""Whether the prediction history can record runs now, for the Status and History pages.

Two signals: a probe (open the database and take its write lock for an instant: a read-only file or folder, a
missing server or a read-only replica fail it) and the last write of this process (a full disk lets the probe
through and fails the write itself). Scoring keeps working either way; the pages say that runs are not recorded.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from don_predictor.store.history.db import HistoryError, engine, history_url

PROBE_WAIT_MS = 1000  # a writer holding the lock longer makes the history busy, not broken
_last_write: dict[str, tuple[float, str | None]] = {}  # db -> (time, error text or None for a success)
_lock = threading.Lock()


@dataclass(frozen=True)
class HistoryState:
    writable: bool
    text: str  # one plain line for the page: "reachable and writable", "not writable: …", "not reachable: …"


def note_write(db: str | Path, error: Exception | None = None) -> None:
    """Remember how this process's last write into the history went (None: it worked)."""
    with _lock:
        _last_write[str(db)] = (time.time(), None if error is None else _reason(error))


def history_state(db: str | Path) -> HistoryState:
    try:
        _probe(db)
    except (HistoryError, SQLAlchemyError, sqlite3.Error, OSError) as error:
        reason = _reason(error)
        if "locked" in reason:
            return HistoryState(True, "reachable and writable (busy with another write)")
        # A file that cannot be written is there but read-only; a server that does not answer is unreachable.
        on_a_server = history_url(db).get_backend_name() != "sqlite"
        reachable = not on_a_server or isinstance(error, OSError)  # OSError: the standby answer below
        return HistoryState(False, f"{'not writable' if reachable else 'not reachable'}: {reason}")
    with _lock:
        when, failed = _last_write.get(str(db), (0.0, None))
    if failed:
        stamp = time.strftime("%H:%M:%S UTC", time.gmtime(when))
        return HistoryState(False, f"not writable: the last run could not be written ({stamp}): {failed}")
    return HistoryState(True, "reachable and writable")


def _probe(db: str | Path) -> None:
    """Take the write lock and let it go at once: nothing is written."""
    with engine(db).connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {PROBE_WAIT_MS}")
            connection.rollback()
            connection.execution_options(immediate=True)  # BEGIN IMMEDIATE: fails on a read-only database
            with connection.begin():
                pass
        elif connection.exec_driver_sql("SHOW transaction_read_only").scalar() == "on":
            raise OSError("the database server accepts reads only (a standby)")


def _reason(error: BaseException) -> str:
    """The database's own words, first line, without SQLAlchemy's wrapping; a HistoryError as it reads."""
    if isinstance(error, HistoryError):
        return str(error).removeprefix("the history database ").strip()
    original = getattr(error, "orig", None) or error
    text = str(original).strip()
    return text.splitlines()[0] if text else type(original).__name__

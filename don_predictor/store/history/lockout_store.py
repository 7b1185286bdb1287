"""Failed logins in the history database: counted per key (a user, a client address) by every process and replica,
so a restart or a second replica does not reset a lockout.

An attempt is claimed before its password is checked: in one write transaction the recent failures of each key are
counted and, when no key has reached its limit, a row per key is written at once (the attempt counts as a failure
until it succeeds). Parallel attempts queue on the transaction, so five claims allow at most five password checks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert, or_, select, text

from don_predictor.store.history import tables as t
from don_predictor.store.history.db import writing
from don_predictor.store.history.store import plain_errors

_PG_LOCKOUT_LOCK = 7_140_015  # pg_advisory_xact_lock key: serialises claims on PostgreSQL as BEGIN IMMEDIATE does


@dataclass(frozen=True)
class Claim:
    attempt_id: str | None  # None: refused, a key is locked
    wait_s: float  # how long the lock lasts (0 when the attempt may go ahead)
    counts: dict[str, int]  # failures per key in the window, this attempt included when claimed


@plain_errors
def claim_attempt(db: str | Path, limits: dict[str, int], window: timedelta, now: datetime | None = None) -> Claim:
    """Count each key's failures within `window` and, unless one has `limits[key]` of them, record this attempt."""
    now = now or t.utc_now()
    since, f = now - window, t.login_failures
    keys = list(limits)
    with writing(db) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCKOUT_LOCK})
        connection.execute(delete(f).where(f.c.lock_key.in_(keys), f.c.created_at <= since))  # keeps the table small
        counts, waits = {}, []
        for key, limit in limits.items():
            newest = (
                connection.execute(
                    select(f.c.created_at).where(f.c.lock_key == key).order_by(f.c.created_at.desc()).limit(limit)
                )
                .scalars()
                .all()
            )
            counts[key] = len(newest)
            if len(newest) >= limit:  # locked until the limit-th newest failure leaves the window
                waits.append((newest[limit - 1] + window - now).total_seconds())
        if waits:
            return Claim(None, max(max(waits), 1.0), counts)
        attempt_id = uuid.uuid4().hex
        connection.execute(insert(f), [{"attempt_id": attempt_id, "lock_key": k, "created_at": now} for k in keys])
        return Claim(attempt_id, 0.0, {key: count + 1 for key, count in counts.items()})


@plain_errors
def forget_attempt(db: str | Path, attempt_id: str, clear_keys: list[str]) -> None:
    """A successful login: its own rows go, and every recorded failure of `clear_keys` (the user's own)."""
    f = t.login_failures
    with writing(db) as connection:
        connection.execute(delete(f).where(or_(f.c.attempt_id == attempt_id, f.c.lock_key.in_(clear_keys))))

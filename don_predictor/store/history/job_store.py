"""Training jobs in the history database, so every replica sees them and only one job per backend runs at a time
across replicas. A job claims a slot per backend (a primary key: a second claim conflicts) and keeps a heartbeat;
a replica that died mid-job leaves a slot whose heartbeat goes stale, and the next claim takes it over."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from don_predictor.store.history import tables as t
from don_predictor.store.history.db import engine, writing

STALE_AFTER = timedelta(minutes=2)  # no heartbeat for this long: the replica running the job is gone
OWNER = f"{socket.gethostname()}:{os.getpid()}"


class SlotTaken(RuntimeError):
    """Another replica runs a job for this backend; the message says which and since when."""


def claim(db: str | Path, job_id: str, slots: list[str], row: dict) -> None:
    """Record the job and take its slots, all or nothing; raises SlotTaken when a live job holds one."""
    now = t.utc_now()
    try:
        with writing(db) as connection:
            stale = now - STALE_AFTER
            connection.execute(
                delete(t.job_slots).where(t.job_slots.c.slot.in_(slots), t.job_slots.c.heartbeat_at < stale)
            )
            connection.execute(
                update(t.jobs)
                .where(t.jobs.c.state == "running", t.jobs.c.heartbeat_at < stale)
                .values(state="lost", error="the replica running it stopped", finished_at=now)
            )
            connection.execute(insert(t.job_slots), [{"slot": s, "job_id": job_id, "heartbeat_at": now} for s in slots])
            connection.execute(
                insert(t.jobs), [{**row, "job_id": job_id, "owner": OWNER, "started_at": now, "heartbeat_at": now}]
            )
    except IntegrityError:
        holder = running_in(db, slots)
        raise SlotTaken(
            f"{holder['description'] if holder else ', '.join(slots)} is already training"
            + (f" on another app replica (started by {holder['user_name'] or 'a user'})" if holder else "")
            + "; wait for it to finish"
        ) from None


def running_in(db: str | Path, slots: list[str]) -> dict | None:
    query = (
        select(t.jobs)
        .join(t.job_slots, t.job_slots.c.job_id == t.jobs.c.job_id)
        .where(t.job_slots.c.slot.in_(slots))
        .limit(1)
    )
    with engine(db).connect() as connection:
        found = connection.execute(query).mappings().first()
    return dict(found) if found else None


def beat(db: str | Path, job_id: str, fraction: float, message: str) -> None:
    now = t.utc_now()
    with writing(db) as connection:
        connection.execute(
            update(t.jobs).where(t.jobs.c.job_id == job_id).values(fraction=fraction, message=message, heartbeat_at=now)
        )
        connection.execute(update(t.job_slots).where(t.job_slots.c.job_id == job_id).values(heartbeat_at=now))


def finish(db: str | Path, job_id: str, state: str, fraction: float, message: str, error: str | None) -> None:
    now = t.utc_now()
    with writing(db) as connection:
        connection.execute(
            update(t.jobs)
            .where(t.jobs.c.job_id == job_id)
            .values(state=state, fraction=fraction, message=message, error=error, heartbeat_at=now, finished_at=now)
        )
        connection.execute(delete(t.job_slots).where(t.job_slots.c.job_id == job_id))


def latest(db: str | Path) -> dict | None:
    """The newest job of any replica, a running one first; a running job without a recent heartbeat is 'lost'."""
    jobs, alive = t.jobs, and_(t.jobs.c.state == "running", t.jobs.c.heartbeat_at >= t.utc_now() - STALE_AFTER)
    query = select(jobs).order_by(alive.desc(), jobs.c.started_at.desc()).limit(1)
    with engine(db).connect() as connection:
        found = connection.execute(query).mappings().first()
    if found is None:
        return None
    row = dict(found)
    if row["state"] == "running" and row["heartbeat_at"] < t.utc_now() - STALE_AFTER:
        row["state"], row["error"] = "lost", "the replica running it stopped"
    return row

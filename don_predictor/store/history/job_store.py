"""Training jobs in the history database, so every replica sees them and only one job per backend runs at a time
across replicas. A job claims a slot per backend (a primary key: a second claim conflicts) and keeps a heartbeat;
a replica that died mid-job leaves a slot whose heartbeat goes stale, and the next claim takes it over.

A job's owner is `host:pid/start time/pid namespace` of its process. Where a replica sees the owner's pids (same
host, same pid namespace) a dead job is known at once, without waiting for the heartbeat to go stale: its pid is
gone, a zombie, or now another process (a pid reused after a restart, common in containers, has another start
time). Other replicas' jobs can only be judged by the heartbeat."""

from __future__ import annotations

import functools
import os
import socket
from datetime import datetime, timedelta
from pathlib import Path

import psutil
from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from don_predictor.store.history import tables as t
from don_predictor.store.history.db import engine, writing

STALE_AFTER = timedelta(minutes=2)  # no heartbeat for this long: the replica running the job is gone
HOST = socket.gethostname()


def _pid_namespace() -> str:
    """The pid namespace's id ("pid:[4026531836]" -> "4026531836"): two containers may share a host name."""
    try:
        return os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return ""


PID_NAMESPACE = _pid_namespace()
STALE = "the replica running it stopped"
DIED_HERE = "the app process running it stopped (killed or restarted)"


@functools.cache
def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def this_owner() -> str:
    """host:pid/start time/pid namespace of this process (read per call: a forked child is another owner)."""
    pid = os.getpid()
    return f"{HOST}:{pid}/{_start_time(pid) or 0:.2f}/{PID_NAMESPACE}"


def shown_owner(owner: str | None) -> str | None:
    """The owner as a user reads it: host:pid."""
    return owner.split("/")[0] if owner else owner


def owner_gone(owner: str) -> bool:
    """Whether the process that owns a job is known to have ended: only said for this host's processes."""
    where, _, rest = owner.partition("/")
    started, _, namespace = rest.partition("/")
    host, _, pid = where.rpartition(":")
    if host != HOST or namespace != PID_NAMESPACE or not pid.isdigit() or not started:
        return False  # another replica's (or recorded before this check): its heartbeat tells
    try:
        process = psutil.Process(int(pid))
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        alive_since = process.create_time()
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # not ours to inspect: assume it lives, the heartbeat will tell
        return False
    try:
        return abs(alive_since - float(started)) > 1.0  # the pid now belongs to another process
    except ValueError:
        return False


def _reap_dead_here(connection: Connection, now: datetime) -> None:
    """Mark this host's running jobs whose process has ended as lost, and free their slots."""
    running = connection.execute(select(t.jobs.c.job_id, t.jobs.c.owner).where(t.jobs.c.state == "running"))
    dead = [job_id for job_id, owner in running if owner_gone(owner)]
    if dead:
        connection.execute(
            update(t.jobs).where(t.jobs.c.job_id.in_(dead)).values(state="lost", error=DIED_HERE, finished_at=now)
        )
        connection.execute(delete(t.job_slots).where(t.job_slots.c.job_id.in_(dead)))


class SlotTaken(RuntimeError):
    """Another replica runs a job for this backend; the message says which and since when."""


def claim(db: str | Path, job_id: str, slots: list[str], row: dict) -> None:
    """Record the job and take its slots, all or nothing; raises SlotTaken when a live job holds one."""
    now = t.utc_now()
    try:
        with writing(db) as connection:
            _reap_dead_here(connection, now)
            stale = now - STALE_AFTER
            connection.execute(
                delete(t.job_slots).where(t.job_slots.c.slot.in_(slots), t.job_slots.c.heartbeat_at < stale)
            )
            connection.execute(
                update(t.jobs)
                .where(t.jobs.c.state == "running", t.jobs.c.heartbeat_at < stale)
                .values(state="lost", error=STALE, finished_at=now)
            )
            connection.execute(insert(t.job_slots), [{"slot": s, "job_id": job_id, "heartbeat_at": now} for s in slots])
            owned = {"job_id": job_id, "owner": this_owner(), "started_at": now, "heartbeat_at": now}
            connection.execute(insert(t.jobs), [{**row, **owned}])
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
    """The newest job of any replica, a running one first; a running job without a recent heartbeat, or whose
    process on this host has ended, is 'lost'."""
    with engine(db).connect() as connection:
        running = connection.execute(select(t.jobs.c.job_id, t.jobs.c.owner).where(t.jobs.c.state == "running"))
        dead = [job_id for job_id, owner in running if owner_gone(owner)]
    if dead:
        try:
            with writing(db) as connection:
                _reap_dead_here(connection, t.utc_now())
        except Exception:  # a read-only history: shown as lost all the same (below)
            pass
    jobs, recent = t.jobs, t.utc_now() - STALE_AFTER
    alive = and_(jobs.c.state == "running", jobs.c.heartbeat_at >= recent, jobs.c.job_id.not_in(dead))
    query = select(jobs).order_by(alive.desc(), jobs.c.started_at.desc()).limit(1)
    with engine(db).connect() as connection:
        found = connection.execute(query).mappings().first()
    if found is None:
        return None
    row = dict(found)
    if row["state"] == "running" and row["job_id"] in dead:
        row["state"], row["error"] = "lost", DIED_HERE
    elif row["state"] == "running" and row["heartbeat_at"] < t.utc_now() - STALE_AFTER:
        row["state"], row["error"] = "lost", STALE
    return row

"""Readiness: whether this process can score now, for a load balancer's or Docker's health check (`/readyz`).

Ready when at least one backend has an active model whose files match their checksums. A probe comes every few
seconds and a model is hundreds of MB, so a version's verification is kept until one of its files changes: every
file's size, mtime, ctime and inode are the key (a rewrite, a copy over it or a touch changes one of them; ctime
cannot be set back by a user), and only a changed key hashes the files again.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from don_predictor.config import BACKENDS
from don_predictor.store.registry import Registry, RegistryError

_verified: dict[tuple[str, str], tuple[str, tuple, str | None]] = {}  # (root, backend) -> (version, key, error)
_lock = threading.Lock()


@dataclass(frozen=True)
class Readiness:
    ready: bool
    backends: dict[str, str]  # backend -> "ready (version …)" or why it cannot score


def readiness(models_dir: str | Path) -> Readiness:
    registry = Registry(models_dir)
    if not registry.root.is_dir():
        reason = "the models directory does not exist"
        return Readiness(False, dict.fromkeys(BACKENDS, reason))
    backends = {backend: _backend_state(registry, backend) for backend in BACKENDS}
    return Readiness(any(text.startswith("ready") for text in backends.values()), backends)


def _backend_state(registry: Registry, backend: str) -> str:
    try:
        active = registry.active(backend)
    except RegistryError as error:
        return str(error)
    if active is None:
        return f"no active {backend} model"
    error = _verification(registry, active)
    return error or f"ready (version {active.version})"


def _verification(registry: Registry, active) -> str | None:
    """None when the version's files match their checksums; else why not. Hashes only when a file changed."""
    slot = (str(registry.root.resolve()), active.backend)
    key = _files_key(active.path)
    with _lock:
        known = _verified.get(slot)
    if known is not None and known[:2] == (active.version, key):
        return known[2]
    try:
        registry.verify(active)
        error = None
    except RegistryError as failed:
        error = str(failed)
    with _lock:
        _verified[slot] = (active.version, key, error)
    return error


def _files_key(folder: Path) -> tuple:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        return tuple((e.name, *_stat(e.stat(follow_symlinks=True))) for e in entries)
    except OSError as error:
        return (("unreadable", str(error)),)


def _stat(stat: os.stat_result) -> tuple:
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino

"""Process, system and model status for the Status page (psutil)."""

from __future__ import annotations

import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from don_predictor.config import BACKENDS
from don_predictor.lab.alarms import lab_alarms
from don_predictor.services.history_state import HistoryState, history_state
from don_predictor.store.governance import is_demo
from don_predictor.store.history import HistoryError
from don_predictor.store.registry import Registry, RegistryError

LOW_MEMORY_SHARE = 0.05  # below 5 % available system memory, the app is degraded
LOW_DISK_BYTES = 500 * 1024**2  # models need room to be saved


@dataclass
class Health:
    status: str  # OK, DEMO (every model can score, but some are demo models) or DEGRADED
    reasons: list[str]
    process: dict[str, Any]
    system: dict[str, Any]
    versions: dict[str, str]
    models: list[dict[str, Any]] = field(default_factory=list)
    history: HistoryState | None = None  # None: not checked
    demo_models: list[str] = field(default_factory=list)  # backends whose active model is a demo model


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("streamlit", "scikit-learn", "numpy", "pandas"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    # Only report TensorFlow when something already imported it: asking would import it.
    tf = sys.modules.get("tensorflow")
    versions["tensorflow"] = getattr(tf, "__version__", "?") if tf else "not loaded"
    return versions


_process: psutil.Process | None = None
MIN_CPU_WINDOW_S = 1.0  # process CPU is measured over at least this long
MAX_CPU_WINDOW_S = 5.0  # and at most this long: an older window would average idle minutes into a busy moment
FRESH_CPU_SAMPLE_S = 0.25  # the look after a long pause measures this long (the Status page waits for it)
_cpu_window: tuple[float, float, float] | None = None  # (wall time, CPU seconds, the percent last measured)


def this_process() -> psutil.Process:
    """One psutil.Process for the whole process (its oneshot() cache serves the Status page's figures)."""
    global _process
    if _process is None:
        _process = psutil.Process()
    return _process


def process_cpu_percent(proc: psutil.Process) -> float:
    """This process's CPU use (100 % = one core busy) over the last one to five seconds. Every page run of every
    session asks: measured between two asks, a look right after another one's said 0 % in the middle of a training,
    and a look after an idle pause said ~1 %. A look sooner than MIN_CPU_WINDOW_S after the last measurement gets
    that measurement again; one after more than MAX_CPU_WINDOW_S measures a fresh quarter second."""
    global _cpu_window

    def now_and_used() -> tuple[float, float]:
        times = proc.cpu_times()
        return time.monotonic(), times.user + times.system

    now, used = now_and_used()
    if _cpu_window is None or now - _cpu_window[0] > MAX_CPU_WINDOW_S:
        time.sleep(FRESH_CPU_SAMPLE_S)
        start, start_used = now, used
        now, used = now_and_used()
        _cpu_window = (now, used, 100.0 * (used - start_used) / (now - start))
    elif now - _cpu_window[0] >= MIN_CPU_WINDOW_S:
        _cpu_window = (now, used, 100.0 * (used - _cpu_window[1]) / (now - _cpu_window[0]))
    return _cpu_window[2]


def check_health(
    registry: Registry,
    load_seconds: dict[str, float] | None = None,
    history_db: str | Path | None = None,
    *,
    alpha: float = 0.05,
    check_pattern: str = "",
) -> Health:
    """The app's state; with `history_db`, whether the prediction history can record runs is part of it, and so
    are the lab's alarms (the verified false-compliant rate over `alpha`, a check sample breaking a rule)."""
    load_seconds = load_seconds or {}
    reasons: list[str] = []
    proc = this_process()
    # Outside oneshot(): it caches cpu_times(), so the two readings of a fresh measurement were the same and the
    # page said 0 % in the middle of a training job.
    cpu_percent = process_cpu_percent(proc)
    with proc.oneshot():
        process = {
            "rss_mb": proc.memory_info().rss / 1024**2,
            "cpu_percent": cpu_percent,
            "threads": proc.num_threads(),
            "uptime_s": time.time() - proc.create_time(),
        }
    memory = psutil.virtual_memory()
    registry.root.mkdir(parents=True, exist_ok=True)
    disk = shutil.disk_usage(registry.root)
    system = {
        "memory_total_mb": memory.total / 1024**2,
        "memory_available_mb": memory.available / 1024**2,
        "disk_free_mb": disk.free / 1024**2,
        "models_dir": str(Path(registry.root).resolve()),
        "cpus": psutil.cpu_count(),
    }
    if memory.available / memory.total < LOW_MEMORY_SHARE:
        reasons.append(f"system memory is low: {memory.available / 1024**2:,.0f} MB available")
    if disk.free < LOW_DISK_BYTES:
        reasons.append(f"disk space for models is low: {disk.free / 1024**2:,.0f} MB free")

    models = []
    for backend in BACKENDS:
        entry: dict[str, Any] = {"backend": backend, "version": None, "checksum": "—", "load_s": None}
        try:
            active = registry.active(backend)
        except RegistryError as error:
            active = None
            reasons.append(str(error))
        if active is None:
            reasons.append(f"no active {backend} model: train one on the Train page")
        else:
            entry["version"] = active.version
            entry["created"] = active.created
            entry["n_rows"] = active.manifest.get("n_rows")
            entry["demo"] = is_demo(active)
            try:
                registry.verify(active)
                entry["checksum"] = "verified"
            except RegistryError as error:
                entry["checksum"] = "FAILED"
                reasons.append(str(error))
            entry["load_s"] = load_seconds.get(f"{backend}/{active.version}")
        models.append(entry)
    history = None if history_db is None else history_state(history_db)
    if history is not None and not history.writable:
        reasons.append(f"the prediction history does not record runs: {history.text}")
    if history is not None and history.writable:
        try:
            reasons += lab_alarms(history_db, alpha, check_pattern)
        except HistoryError as error:
            reasons.append(f"the lab's results cannot be read from the history: {error}")
    versions = package_versions()
    demo = [entry["backend"] for entry in models if entry.get("demo")]
    status = "DEGRADED" if reasons else "DEMO" if demo else "OK"
    return Health(status, reasons, process, system, versions, models, history, demo)

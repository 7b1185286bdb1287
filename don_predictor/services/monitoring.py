"""The Monitoring page's data: a window of the history, each served version's reference and drift. Its figures are
in plots/monitoring.py, the drift gauge for Prometheus in services/history_gauges.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from don_predictor.config import BACKENDS
from don_predictor.services import drift as d
from don_predictor.store.governance import is_demo
from don_predictor.store.history import results_since
from don_predictor.store.registry import Registry, RegistryError

DRIFT_DAYS = 7
MAX_ROWS = 300_000  # per-backend result rows read for the page: the newest, so a long window stays in memory


@dataclass(frozen=True)
class Window:
    frame: pd.DataFrame  # history.results_since over the window
    references: dict[tuple[str, str], d.Reference]  # (backend, version) -> reference, for versions seen or active
    active: dict[str, str]  # backend -> active version


def load_window(db, models_dir: str | Path, days: int, now: datetime | None = None) -> Window:
    now = now or datetime.now(UTC)
    frame = results_since(db, now - timedelta(days=days), limit=MAX_ROWS)
    registry = Registry(models_dir)
    active = {}
    for backend in BACKENDS:
        try:
            version = registry.active_version(backend)
        except RegistryError:
            continue
        if version:
            active[backend] = version
    seen = set(active.items())
    if not frame.empty:
        for backend, versions in frame.groupby("backend")["model_versions"]:
            seen |= {(backend, json.loads(v).get(backend)) for v in versions.unique()}
    references = {}
    for backend, version in sorted(s for s in seen if s[1]):
        try:
            found = registry.get(backend, version)
        except (RegistryError, KeyError, OSError):
            continue  # a version deleted from the registry: its rows still count, without a reference
        reference = d.load_reference(backend, version, found.path)
        if reference is not None:
            references[(backend, version)] = replace(reference, demo=is_demo(found))
    return Window(frame, references, active)


def drifts(window: Window, threshold: float, days: int = DRIFT_DAYS, now: datetime | None = None) -> list[d.Drift]:
    """The drift of the last `days` days per version that served in them or is active."""
    recent = d.recent(window.frame, days, now or datetime.now(UTC)) if not window.frame.empty else window.frame
    return [d.drift(recent, reference, threshold) for reference in window.references.values()]


def cv_reference(models_dir: str | Path, backend: str, version: str) -> dict[str, float]:
    """The version's cross-validated MAE and interval coverage, the reference lines of its live performance."""
    try:
        manifest = Registry(models_dir).get(backend, version).manifest
    except (RegistryError, KeyError, OSError):
        return {}
    metrics = ((manifest.get("cv_metrics") or {}).get("metrics")) or {}
    mae = metrics.get("mae_ppb")
    out = {"mae_ppb": mae.get("mean") if isinstance(mae, dict) else mae}
    out["coverage"] = (manifest.get("intervals") or {}).get("coverage")
    return {key: float(value) for key, value in out.items() if isinstance(value, (int, float))}

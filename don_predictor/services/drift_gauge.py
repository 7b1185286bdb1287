"""The drift gauge Prometheus alerts on: every METRICS_REFRESH_S, the drift of each active version into
don_drift_score, in a background thread (once per process), whether or not anyone opens the Monitoring page."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from don_predictor.config import Settings
from don_predictor.logs import event
from don_predictor.services import metrics
from don_predictor.services.monitoring import DRIFT_DAYS, drifts, load_window

METRICS_REFRESH_S = 600

_refresher: list[threading.Thread] = []


def start_metrics_refresh(db, models_dir: str | Path, threshold: float) -> None:
    """Every METRICS_REFRESH_S, the drift of each active version into the don_drift_score gauge (once per process)."""
    if _refresher:
        return

    def loop() -> None:
        stop = threading.Event()
        while True:
            refresh_drift_metrics(db, models_dir, threshold)
            stop.wait(METRICS_REFRESH_S)

    _refresher.append(threading.Thread(target=loop, name="drift-metrics", daemon=True))
    _refresher[0].start()


def refresh_drift_metrics(db, models_dir: str | Path, threshold: float) -> None:
    metrics.DRIFT_THRESHOLD.set(threshold)
    try:
        window = load_window(db, models_dir, DRIFT_DAYS)
        for found in drifts(window, threshold):
            if window.active.get(found.backend) == found.version and found.score is not None:
                metrics.DRIFT_SCORE.labels(found.backend).set(found.score)
    except Exception as error:  # a monitoring thread must never die or take the app down
        event("drift_metrics_failed", logging.WARNING, error=f"{type(error).__name__}: {error}")


def serve_metrics(config: Settings) -> bool:
    """/metrics on the configured port (0: off) and, once it serves, the drift gauge kept fresh. False when it does
    not serve (off, or the port cannot be bound: logged)."""
    if not metrics.start_server(config.metrics_port):
        return False
    start_metrics_refresh(config.history_db, config.models_dir, config.drift_threshold)
    return True

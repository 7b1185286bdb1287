"""The gauges Prometheus alerts on that come from the history, not from this process's own work: the drift of each
active version (don_drift_score), the screen verified on the lab's results (don_lab_*) and the check samples'
Westgard rules (don_check_sample_violations). Refreshed every METRICS_REFRESH_S in a background thread (once per
process), whether or not anyone opens a page."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from don_predictor.config import BACKENDS, Settings
from don_predictor.lab.check_samples import refresh_check_sample_metrics
from don_predictor.lab.verification import refresh_verification_metrics
from don_predictor.logs import event
from don_predictor.services import metrics
from don_predictor.services.monitoring import DRIFT_DAYS, drifts, load_window

METRICS_REFRESH_S = 600
VERIFICATION_DAYS = 365  # the lab's results of a year of runs: what the alert weighs

_refresher: list[threading.Thread] = []


def serve_metrics(config: Settings) -> bool:
    """/metrics on the configured port (0: off) and, once it serves, the history's gauges kept fresh. False when it
    does not serve (off, or the port cannot be bound: logged)."""
    if not metrics.start_server(config.metrics_port):
        return False
    if not _refresher:

        def loop() -> None:
            stop = threading.Event()
            while True:
                refresh_history_gauges(config)
                stop.wait(METRICS_REFRESH_S)

        _refresher.append(threading.Thread(target=loop, name="history-gauges", daemon=True))
        _refresher[0].start()
    return True


def refresh_history_gauges(config: Settings) -> None:
    """Each gauge on its own: one that fails (logged) leaves the others fresh; a monitoring thread never dies."""
    metrics.DRIFT_THRESHOLD.set(config.drift_threshold)
    since = datetime.now(UTC) - timedelta(days=VERIFICATION_DAYS)
    steps = {
        "drift": lambda: _refresh_drift(config),
        "verification": lambda: refresh_verification_metrics(config.history_db, config.false_compliant_rate, since),
        "check_samples": lambda: (
            config.check_sample_pattern
            and refresh_check_sample_metrics(config.history_db, config.check_sample_pattern, list(BACKENDS))
        ),
    }
    for name, step in steps.items():
        try:
            step()
        except Exception as error:
            event("history_gauge_failed", logging.WARNING, gauge=name, error=f"{type(error).__name__}: {error}")


def _refresh_drift(config: Settings) -> None:
    window = load_window(config.history_db, config.models_dir, DRIFT_DAYS)
    for found in drifts(window, config.drift_threshold):
        if window.active.get(found.backend) == found.version and found.score is not None:
            metrics.DRIFT_SCORE.labels(found.backend).set(found.score)

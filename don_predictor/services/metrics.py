"""Prometheus metrics of the app process, served on DON_METRICS_PORT (off when unset), started once per process.

Other modules call the small functions below (one line each); they cost next to nothing when nobody scrapes.
Label values are a closed set (backends, verdicts, a few rejection reasons) so that series stay few.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, Info, start_http_server

from don_predictor.logs import event

PREDICTIONS = Counter("don_predictions", "Rows scored, by backend and verdict", ["backend", "verdict"])
SCORING_SECONDS = Histogram(
    "don_scoring_seconds",
    "Time to score one upload, by page",
    ["source"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
SCORING_ERRORS = Counter("don_scoring_errors", "Uploads that could not be scored, by kind", ["kind"])
ROWS_REJECTED = Counter("don_rows_rejected", "Rows not scored, by reason", ["reason"])
DOMAIN_CHECKS = Counter("don_domain_checks", "Scored rows by applicability domain", ["backend", "domain"])
OUT_OF_DOMAIN_SHARE = Gauge("don_out_of_domain_share", "Share of the last upload's rows out of domain", ["backend"])
LAST_PREDICTION = Gauge("don_last_prediction_timestamp_seconds", "Unix time of the last scored upload")
ACTIVE_MODEL = Info("don_active_model", "The version each backend serves", ["backend"])
TRAINING_RUNS = Counter("don_training_runs", "Training jobs, by outcome", ["outcome"])
TRAINING_SECONDS = Histogram(
    "don_training_seconds", "Duration of training jobs", buckets=(10, 30, 60, 120, 300, 600, 1200, 2400, 3600)
)
LOGIN_FAILURES = Counter("don_login_failures", "Wrong passwords")
LOCKOUTS = Counter("don_login_lockouts", "Users or addresses locked out after repeated failures")
AUDIT_UNSAVED = Counter(
    "don_audit_events_unsaved", "Audit events the history could not keep (logged as audit_unsaved lines)", ["action"]
)
HISTORY_WRITE_ERRORS = Counter("don_history_write_errors", "Runs or audit events not saved to the history", ["what"])
DRIFT_SCORE = Gauge("don_drift_score", "Population stability index of recent spectra against training", ["backend"])
DRIFT_THRESHOLD = Gauge("don_drift_threshold", "The drift score above which the Monitoring page warns")
# Fair use (services/fair_use.py): uploads that waited for a scoring slot or their budget, and those refused.
FAIR_USE_WAITS = Counter("don_fair_use_waits", "Uploads that waited before scoring, by cause", ["cause"])
FAIR_USE_REFUSALS = Counter("don_fair_use_refusals", "Uploads refused as busy, by cause", ["cause"])
FAIR_USE_WAIT_SECONDS = Histogram(
    "don_fair_use_wait_seconds", "Time an upload waited before scoring", buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120)
)
SCORING_QUEUE = Gauge("don_scoring_queue_length", "Uploads waiting for a scoring slot")
SCORING_IN_FLIGHT = Gauge("don_scoring_in_flight", "Uploads being scored now")
TRAINING_REFUSALS = Counter("don_training_refusals", "Trainings refused: one job per user (or per process)")
MEMORY_LIMIT = Gauge("don_memory_limit_bytes", "Memory this process may use (cgroup limit, else the machine's RAM)")
# The lab's loop (lab/verification.py): the screen verified on the lab's results, per decision and limit.
LAB_VERIFIED = Gauge(
    "don_lab_verified_cleared", "Randomly drawn cleared samples the lab measured", ["decided_by", "limit"]
)
LAB_VERIFIED_NEEDED = Gauge(
    "don_lab_verified_needed",
    "Verified cleared samples needed to show the rate under α (+Inf: none would yet)",
    ["decided_by", "limit"],
)
LAB_FC_LOWER = Gauge(
    "don_lab_false_compliant_lower_bound",
    "One-sided 95 % lower bound of the false-compliant rate the lab results show",
    ["decided_by", "limit"],
)
LAB_FC_UPPER = Gauge(
    "don_lab_false_compliant_upper_bound",
    "One-sided 95 % upper bound of the false-compliant rate the lab results show",
    ["decided_by", "limit"],
)
LAB_ALPHA = Gauge("don_lab_false_compliant_alpha", "α: the false-compliant rate the screen promises at most")
CHECK_SAMPLE_VIOLATIONS = Gauge(
    "don_check_sample_violations", "Westgard rules broken by the latest check-sample prediction", ["backend"]
)
# process_resident_memory_bytes comes from prometheus_client's own process collector.

REJECTION_REASONS = ("missing value", "not a number", "not a finite number", "flat", "fields")
_started: dict[str, int] = {}
_lock = threading.Lock()


def start_server(port: int) -> bool:
    """Serve /metrics on `port` once per process (0: off). False when the port cannot be bound (logged)."""
    with _lock:
        if not port or _started:
            return bool(_started)
        try:
            start_http_server(port, registry=REGISTRY)
        except OSError as error:
            event("metrics_not_started", logging.ERROR, port=port, error=str(error))
            return False
        _started["port"] = port
    MEMORY_LIMIT.set(memory_limit_bytes())
    LAST_PREDICTION.set(time.time())  # "no prediction for a day" counts from the start, not from 1970
    event("metrics_started", port=port)
    return True


def memory_limit_bytes() -> float:
    """The cgroup (v2, then v1) memory limit of this container, else the machine's memory."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < psutil.virtual_memory().total:
            return float(raw)
    return float(psutil.virtual_memory().total)


def rejection_reason(status: str) -> str:
    """The closed set of reasons a row is not scored, from its status text."""
    for reason in REJECTION_REASONS:
        if reason in status:
            return {"fields": "malformed row"}.get(reason, reason)
    return "other"


def observe_scoring(results: pd.DataFrame, backends: list[str] | dict, source: str, seconds: float | None) -> None:
    """One scored upload: its rows by backend and verdict, rejected rows by reason, domain shares, latency (None:
    the scores were reused, nothing ran to time)."""
    if seconds is not None:
        SCORING_SECONDS.labels(source).observe(seconds)
    LAST_PREDICTION.set(time.time())
    ok = results["status"] == "ok"
    for status, count in results.loc[~ok, "status"].map(rejection_reason).value_counts().items():
        ROWS_REJECTED.labels(status).inc(int(count))
    for backend in backends:
        verdicts = results.get(f"{backend}_verdict")
        counts = verdicts[ok].fillna("none").replace("", "none").value_counts() if verdicts is not None else None
        for verdict, count in counts.items() if counts is not None else [("none", int(ok.sum()))]:
            PREDICTIONS.labels(backend, verdict).inc(int(count))
        domain = results.get(f"{backend}_in_domain")
        if domain is not None and ok.any():
            inside = int(domain[ok].fillna(False).astype(bool).sum())
            DOMAIN_CHECKS.labels(backend, "in").inc(inside)
            DOMAIN_CHECKS.labels(backend, "out").inc(int(ok.sum()) - inside)
            OUT_OF_DOMAIN_SHARE.labels(backend).set(1 - inside / int(ok.sum()))


def observe_active(versions: dict) -> None:
    """The versions served now: {backend: version or a ModelVersion}."""
    for backend, version in versions.items():
        ACTIVE_MODEL.labels(backend).info({"version": str(getattr(version, "version", version))})


def observe_training(outcome: str, seconds: float) -> None:
    TRAINING_RUNS.labels(outcome).inc()
    TRAINING_SECONDS.observe(seconds)


def observe_audit(action: str) -> None:
    """Login failures and lockouts, counted where they are audited."""
    if action == "login_failed":
        LOGIN_FAILURES.inc()
    elif action == "login_locked":
        LOCKOUTS.inc()


def observe_verification(found: list, alpha: float) -> None:
    """The latest verification figures (lab.verification.Verification, one per decision and limit): one series per
    decision and limit, the newest model version's (the list is filtered by the caller)."""
    LAB_ALPHA.set(alpha)
    for item in found:
        labels = (item.decided_by, item.limit_key)
        LAB_VERIFIED.labels(*labels).set(item.verified)
        LAB_VERIFIED_NEEDED.labels(*labels).set(item.needed)
        LAB_FC_LOWER.labels(*labels).set(item.lower)
        LAB_FC_UPPER.labels(*labels).set(item.upper)

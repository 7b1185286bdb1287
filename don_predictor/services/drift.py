"""Drift monitoring from the prediction history: are the spectra and predictions coming in still like the data the
models were calibrated on? Pure functions over `history.results_since` frames; the Monitoring page draws them.

The drift score is the population stability index (PSI) of recent values against a reference, the larger of:
- predictions (log ppb) against the model's out-of-fold predictions of its calibration data (kept in its bundle);
- the baseline-offset statistic against N(0, 1) (it is in standard deviations of the training spectra; on held-out
  dev and demo spectra its PSI is 0.05-0.07, and a +0.05 reflectance offset takes it over 3).
T² and Q are shown against their limits but not scored: the bundle keeps their limits, not their distributions,
and chi²(k) matched at the limit put held-out real spectra at PSI 5 (their T² is far more heavy-tailed).
PSI above 0.25 is the usual "significant shift" mark; DON_DRIFT_THRESHOLD changes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from don_predictor.trust.bundle import Trust

DEFAULT_THRESHOLD = 0.25
BINS = 10
MIN_ROWS = 30  # fewer recent rows than this give no drift score: PSI of a handful of rows is noise
_FLOOR = 1e-4  # an empty bin would make PSI infinite


@dataclass(frozen=True)
class Reference:
    """What a model version was calibrated on, as far as its bundle says."""

    backend: str
    version: str
    calibration_ppb: np.ndarray | None  # out-of-fold predictions of the calibration data
    measured_ppb: np.ndarray | None
    components: int
    t2_limit: float
    q_limit: float
    baseline_limit: float


def load_reference(backend: str, version: str, path: Path) -> Reference | None:
    """The reference of a saved version (its trust file only: no model is loaded); None when it has none."""
    trust = Trust.load(path)
    if trust is None:
        return None
    screening = trust.screening
    return Reference(
        backend,
        version,
        None if screening is None else screening.score_ppb,
        None if screening is None else screening.y_ppb,
        int(trust.domain.components.shape[0]),
        trust.domain.t2_limit,
        trust.domain.q_limit,
        trust.domain.baseline_limit,
    )


def psi(reference_edges: np.ndarray, expected: np.ndarray, recent: np.ndarray) -> float:
    """Population stability index of `recent` in the bins `reference_edges` (inner edges) where the reference has
    the shares `expected`."""
    recent = np.asarray(recent, float)
    recent = recent[np.isfinite(recent)]
    counts = np.bincount(np.searchsorted(reference_edges, recent, side="right"), minlength=len(expected))
    actual = np.maximum(counts / max(len(recent), 1), _FLOOR)
    expected = np.maximum(expected, _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi_against_sample(reference: np.ndarray, recent: np.ndarray) -> float:
    """PSI with the reference sample's deciles as bins."""
    reference = np.asarray(reference, float)
    edges = np.unique(np.quantile(reference[np.isfinite(reference)], np.linspace(0, 1, BINS + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    return psi(edges, counts / counts.sum(), recent)


def psi_against_distribution(distribution, recent: np.ndarray) -> float:
    """PSI with the distribution's deciles as bins (each holds a tenth of it)."""
    edges = distribution.ppf(np.linspace(0, 1, BINS + 1)[1:-1])
    return psi(edges, np.full(BINS, 1 / BINS), recent)


@dataclass(frozen=True)
class Drift:
    backend: str
    version: str
    rows: int
    parts: dict[str, float]  # "predictions", "baseline" -> PSI
    threshold: float

    @property
    def score(self) -> float | None:
        return max(self.parts.values()) if self.parts else None

    @property
    def exceeded(self) -> bool:
        return self.score is not None and self.score > self.threshold

    def sentence(self, days: int) -> str:
        if self.score is None:
            return f"{self.backend.upper()} {self.version}: too few scored spectra in the last {days} days to judge."
        worst = max(self.parts, key=self.parts.get)
        if not self.exceeded:
            return (
                f"{self.backend.upper()} {self.version}: the last {days} days look like the calibration data "
                f"(drift score {self.score:.2f}, threshold {self.threshold:.2f})."
            )
        return (
            f"{self.backend.upper()} {self.version}: the spectra of the last {days} days differ from the calibration "
            f"data (drift score {self.score:.2f} over {self.threshold:.2f}, mostly in the {worst}): check the "
            "instrument's reference, or recalibrate."
        )


def drift(frame: pd.DataFrame, reference: Reference, threshold: float = DEFAULT_THRESHOLD) -> Drift:
    """The drift of the scored rows of `frame` (history.results_since) served by the reference's version."""
    rows = served_by(frame, reference.backend, reference.version)
    parts: dict[str, float] = {}
    if len(rows) >= MIN_ROWS:
        if reference.calibration_ppb is not None and rows["ppb"].notna().sum() >= MIN_ROWS:
            parts["predictions"] = psi_against_sample(
                np.log1p(np.maximum(reference.calibration_ppb, 0)), np.log1p(np.maximum(rows["ppb"], 0))
            )
        if rows["baseline"].notna().sum() >= MIN_ROWS and np.isfinite(reference.baseline_limit):
            parts["baseline"] = psi_against_distribution(stats.norm(), rows["baseline"])
    return Drift(reference.backend, reference.version, len(rows), parts, threshold)


def served_by(frame: pd.DataFrame, backend: str, version: str) -> pd.DataFrame:
    if frame.empty:
        return frame
    mine = frame[(frame["backend"] == backend) & (frame["status"] == "ok") & frame["ppb"].notna()]
    served = mine["model_versions"].map(lambda text: json.loads(text).get(backend))
    return mine[served == version]


def recent(frame: pd.DataFrame, days: int, now: datetime) -> pd.DataFrame:
    return frame[frame["created_at"] >= pd.Timestamp(now - timedelta(days=days))]


def by_period(frame: pd.DataFrame, period: str = "D") -> pd.DataFrame:
    """Per period ("D" day, "W" week) and backend: rows scored, out-of-domain share, verdict shares, median ppb
    and T²."""
    scored = frame[(frame["status"] == "ok") & frame["ppb"].notna()].copy()
    if scored.empty:
        return pd.DataFrame(
            columns=["period", "backend", "rows", "out_of_domain", "below", "above", "send_to_lab", "median_ppb"]
        )
    scored["period"] = scored["created_at"].dt.tz_convert(None).dt.to_period(period).dt.start_time
    scored["out"] = scored["in_domain"].map(lambda v: np.nan if v is None or pd.isna(v) else float(not v)).astype(float)
    groups = scored.groupby(["period", "backend"])
    table = groups.agg(
        rows=("ppb", "size"),
        out_of_domain=("out", "mean"),
        median_ppb=("ppb", "median"),
        median_t2=("t2", "median"),
    )
    shares = pd.crosstab([scored["period"], scored["backend"]], scored["verdict"].fillna("none"), normalize="index")
    for verdict in ("below", "above", "send_to_lab"):
        table[verdict] = shares.get(verdict, 0.0)
    return table.reset_index()


def live_performance(frame: pd.DataFrame, period: str = "W") -> pd.DataFrame:
    """Where uploads carried measured values: per period and backend, rows, MAE (ppb), median absolute error and
    the share of measured values inside the prediction interval."""
    measured = frame[(frame["status"] == "ok") & frame["ppb"].notna() & frame["measured_ppb"].notna()].copy()
    columns = ["period", "backend", "rows", "mae_ppb", "median_error_ppb", "coverage"]
    if measured.empty:
        return pd.DataFrame(columns=columns)
    measured["period"] = measured["created_at"].dt.tz_convert(None).dt.to_period(period).dt.start_time
    measured["error"] = (measured["ppb"] - measured["measured_ppb"]).abs()
    inside = (measured["low_ppb"] <= measured["measured_ppb"]) & (measured["measured_ppb"] <= measured["high_ppb"])
    measured["inside"] = inside.astype(float).where(measured["low_ppb"].notna() & measured["high_ppb"].notna())
    table = measured.groupby(["period", "backend"]).agg(
        rows=("error", "size"),
        mae_ppb=("error", "mean"),
        median_error_ppb=("error", "median"),
        coverage=("inside", "mean"),
    )
    return table.reset_index()[columns]

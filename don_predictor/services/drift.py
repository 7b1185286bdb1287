"""Drift monitoring from the prediction history: are the spectra and predictions coming in still like the data the
models were calibrated on? Pure functions over `history.results_since` frames; the Monitoring page draws them.

The drift score is the population stability index (PSI) of recent values against a reference, the larger of:
- predictions (log ppb) against the model's out-of-fold predictions of its calibration data (kept in its bundle);
- the baseline-offset statistic against N(0, 1) (it is in standard deviations of the training spectra; on held-out
  dev and demo spectra its PSI is 0.05-0.07, and a +0.05 reflectance offset takes it over 3).
T² and Q are shown against their limits but not scored: the bundle keeps their limits, not their distributions,
and chi²(k) matched at the limit put held-out real spectra at PSI 5 (their T² is far more heavy-tailed).
PSI above 0.25 is the usual "significant shift" mark; DON_DRIFT_THRESHOLD changes it.

PSI alone misses the plainest failure: spectra that all fall outside the calibration domain can still give
predictions and baseline offsets distributed like the calibration data's. So a model's status is also judged by the
share of its recent spectra outside the domain (OUT_OF_DOMAIN_WARN_SHARE), and live performance is computed from
trusted rows only (the rule of trust.screening, applied to the history's one-row-per-backend frames).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from don_predictor.scoring.frame_views import trusted_rows
from don_predictor.trust.bundle import Trust

DEFAULT_THRESHOLD = 0.25
BINS = 10
MIN_ROWS = 30  # fewer recent rows than this give no drift score: PSI of a handful of rows is noise
_FLOOR = 1e-4  # an empty bin would make PSI infinite
# The calibration domain's limits are set so that about 1-5 % of the calibration spectra fall outside it: a window
# with more than twice the top of that range outside is no longer like the calibration data, whatever the PSI says.
OUT_OF_DOMAIN_WARN_SHARE = 0.10
MIN_OUT_OF_DOMAIN = 5  # fewer spectra than this outside never warn: 1 of 3 is 33 %, and noise


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
    demo: bool = False  # trained on the synthetic demo calibration set


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
    out_of_domain: int = 0  # of `rows`, the spectra outside the calibration domain
    demo: bool = False  # a demo model (synthetic calibration spectra): real spectra are unlike them by design

    @property
    def advice(self) -> str:
        if self.demo:
            return "it is a demo model trained on synthetic spectra: train on your calibration file (Train)"
        return "check the instrument's reference, or recalibrate"

    @property
    def out_of_domain_share(self) -> float:
        return self.out_of_domain / self.rows if self.rows else 0.0

    @property
    def mostly_out_of_domain(self) -> bool:
        """Too many recent spectra outside the calibration domain: their predictions are not trusted."""
        return self.out_of_domain >= MIN_OUT_OF_DOMAIN and self.out_of_domain_share > OUT_OF_DOMAIN_WARN_SHARE

    @property
    def level(self) -> str:
        """How the page shows it: "error" (drift), "warning" (too many out of domain), "success", "info" (no score)."""
        if self.exceeded:
            return "error"
        if self.mostly_out_of_domain:
            return "warning"
        return "success" if self.score is not None else "info"

    @property
    def score(self) -> float | None:
        return max(self.parts.values()) if self.parts else None

    @property
    def exceeded(self) -> bool:
        return self.score is not None and self.score > self.threshold

    def sentence(self, days: int) -> str:
        name = f"{self.backend.upper()} {self.version}"
        outside = (
            f"{self.out_of_domain:,} of {self.rows:,} spectra ({self.out_of_domain_share:.0%}) of the last {days} "
            "days lie outside the calibration domain"
        )
        if self.exceeded:
            worst = max(self.parts, key=self.parts.get)
            text = (
                f"{name}: the spectra of the last {days} days differ from the calibration data (drift score "
                f"{self.score:.2f} over {self.threshold:.2f}, mostly in the {worst}): {self.advice}."
            )
            if self.mostly_out_of_domain:
                text += f" {outside[0].upper()}{outside[1:]}: their predictions are not trusted."
            return text
        if self.mostly_out_of_domain:
            text = f"{name}: {outside}: the predictions are not trusted; {self.advice}."
            if self.score is not None:
                text += f" (The drift score, {self.score:.2f}, does not show it on its own.)"
            return text
        if self.score is None:
            return f"{name}: too few scored spectra in the last {days} days to judge."
        return (
            f"{name}: the last {days} days look like the calibration data "
            f"(drift score {self.score:.2f}, threshold {self.threshold:.2f}; "
            f"{self.out_of_domain:,} of {self.rows:,} spectra outside the domain)."
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
    out = int((~trusted(rows)).sum())  # served_by kept scored rows only: untrusted here means outside the domain
    return Drift(reference.backend, reference.version, len(rows), parts, threshold, out, reference.demo)


def trusted(frame: pd.DataFrame) -> np.ndarray:
    """Per row of a history frame (one row per sample and backend, columns `ppb` and `in_domain`): scored and in
    the calibration domain. The rule of scoring.frame_views.trusted_rows, which reads `<backend>_ppb` columns."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    columns = {"ppb": "row_ppb"} | ({"in_domain": "row_in_domain"} if "in_domain" in frame else {})
    return trusted_rows(frame[list(columns)].rename(columns=columns), "row")


def served_by(frame: pd.DataFrame, backend: str, version: str) -> pd.DataFrame:
    """The scored rows served by that version, without its own training spectra: those are the calibration data,
    not new samples, and counted as drift they raised an alarm for a model's own calibration rows."""
    if frame.empty:
        return frame
    mine = frame[(frame["backend"] == backend) & (frame["status"] == "ok") & frame["ppb"].notna()]
    if "in_training" in mine:
        mine = mine[~mine["in_training"].astype(bool)]
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
    """Where uploads carried measured values: per period and backend, `rows` (the trusted rows the figures come
    from), `not_trusted` (rows with a measured value left out: their spectrum lies outside the calibration domain),
    MAE (ppb), median absolute error and the share of measured values inside the prediction interval. A period
    whose rows were all untrusted keeps its line, with no figures (NaN)."""
    measured = frame[(frame["status"] == "ok") & frame["ppb"].notna() & frame["measured_ppb"].notna()].copy()
    if "in_training" in measured:  # a model's own training rows: in-sample, they flatter its error (927 vs 2,639)
        measured = measured[~measured["in_training"].astype(bool)]
    columns = ["period", "backend", "rows", "not_trusted", "mae_ppb", "median_error_ppb", "coverage"]
    if measured.empty:
        return pd.DataFrame(columns=columns)
    measured["period"] = measured["created_at"].dt.tz_convert(None).dt.to_period(period).dt.start_time
    keep = trusted(measured)
    measured["used"] = keep.astype(int)
    measured["left_out"] = (~keep).astype(int)
    # Errors of untrusted rows are NaN: a prediction the app does not trust says nothing of the model's accuracy.
    measured["error"] = (measured["ppb"] - measured["measured_ppb"]).abs().where(keep)
    inside = (measured["low_ppb"] <= measured["measured_ppb"]) & (measured["measured_ppb"] <= measured["high_ppb"])
    has_interval = measured["low_ppb"].notna() & measured["high_ppb"].notna()
    measured["inside"] = inside.astype(float).where(has_interval & keep)
    table = measured.groupby(["period", "backend"]).agg(
        rows=("used", "sum"),
        not_trusted=("left_out", "sum"),
        mae_ppb=("error", "mean"),
        median_error_ppb=("error", "median"),
        coverage=("inside", "mean"),
    )
    return table.reset_index()[columns]

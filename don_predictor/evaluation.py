"""Repeated k-fold cross-validation and metrics in ppb.

A fresh backend is fitted in every fold, so every fitted step (scaling, target transform, early stopping) sees only
that fold's training rows. Metrics are computed on each repeat's out-of-fold predictions and reported as the mean
and standard deviation over repeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import mean_absolute_error, median_absolute_error, r2_score, roc_auc_score
from sklearn.model_selection import KFold

from don_predictor.backends import make_backend
from don_predictor.backends.base import ProgressCallback, no_progress
from don_predictor.config import SCREENING_LIMIT_PPB
from don_predictor.trust import DEFAULT_LEVEL, ConformalIntervals

METRIC_LABELS = {
    "r2": "R² (ppb)",
    "rmse_ppb": "RMSE (ppb)",
    "mae_ppb": "MAE (ppb)",
    "median_ae_ppb": "median AE (ppb)",
    "bias_ppb": "bias (ppb)",
    "rpd": "RPD",
    "r2_log": "R² (log1p)",
    "roc_auc": f"ROC AUC (> {SCREENING_LIMIT_PPB:,.0f} ppb)",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
}


def regression_metrics(y_ppb: np.ndarray, predicted_ppb: np.ndarray, limit_ppb: float = SCREENING_LIMIT_PPB) -> dict:
    y, p = np.asarray(y_ppb, dtype=float), np.asarray(predicted_ppb, dtype=float)
    rmse = float(np.sqrt(np.mean((p - y) ** 2)))
    above, flagged = y > limit_ppb, p > limit_ppb
    both_classes = 0 < above.sum() < len(y)
    return {
        "r2": float(r2_score(y, p)) if len(y) > 1 else float("nan"),
        "rmse_ppb": rmse,
        "mae_ppb": float(mean_absolute_error(y, p)),
        "median_ae_ppb": float(median_absolute_error(y, p)),
        "bias_ppb": float(np.mean(p - y)),
        "rpd": float(np.std(y, ddof=1) / rmse) if rmse > 0 and len(y) > 1 else float("nan"),
        "r2_log": float(r2_score(np.log1p(y), np.log1p(p))) if len(y) > 1 else float("nan"),
        "roc_auc": float(roc_auc_score(above, p)) if both_classes else float("nan"),
        "sensitivity": float(flagged[above].mean()) if above.any() else float("nan"),
        "specificity": float((~flagged[~above]).mean()) if (~above).any() else float("nan"),
    }


@dataclass
class CVResult:
    backend: str
    folds: int
    repeats: int
    per_repeat: list[dict[str, float]]
    oof_predictions: np.ndarray  # (repeats, rows) ppb
    fold_ids: np.ndarray  # (repeats, rows): the fold in which each row was held out
    oof_difficulty: np.ndarray | None = None  # (repeats, rows) when the backend estimates its own uncertainty

    def summary(self) -> dict[str, dict[str, float]]:
        """{metric: {"mean": .., "sd": ..}} over repeats."""
        out = {}
        for key in self.per_repeat[0]:
            values = np.array([m[key] for m in self.per_repeat], dtype=float)
            sd = float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0
            out[key] = {"mean": float(np.nanmean(values)), "sd": sd}
        return out

    def for_manifest(self) -> dict[str, Any]:
        return {"folds": self.folds, "repeats": self.repeats, "metrics": self.summary()}

    def interval_coverage(self, y_ppb: np.ndarray, level: float = DEFAULT_LEVEL) -> dict[str, float]:
        """Cross-conformal check: calibrate on the other folds' residuals, count how often each held-out fold's
        intervals hold the measured value. Returns the coverage and the median interval width."""
        y = np.asarray(y_ppb, float)
        covered, widths = [], []
        for repeat in range(self.repeats):
            for fold in range(self.folds):
                test = self.fold_ids[repeat] == fold
                d = self.oof_difficulty[repeat] if self.oof_difficulty is not None else None
                intervals = ConformalIntervals.fit(
                    y[~test], self.oof_predictions[repeat, ~test], level, None if d is None else d[~test]
                )
                low, high = intervals.interval(self.oof_predictions[repeat, test], None if d is None else d[test])
                covered.append((low <= y[test]) & (y[test] <= high))
                widths.append(high - low)
        return {
            "level": level,
            "coverage": float(np.mean(np.concatenate(covered))),
            "median_width_ppb": float(np.median(np.concatenate(widths))),
        }


def cross_validate(
    backend: str,
    X: np.ndarray,
    y: np.ndarray,
    band_names: list[str],
    *,
    folds: int = 5,
    repeats: int = 5,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    progress: ProgressCallback = no_progress,
) -> CVResult:
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if len(y) < folds:
        raise ValueError(f"{folds}-fold cross-validation needs at least {folds} rows with a target, got {len(y)}")
    params = dict(params or {})
    predictions = np.zeros((repeats, len(y)))
    fold_ids = np.zeros((repeats, len(y)), dtype=int)
    difficulty = np.zeros((repeats, len(y)))
    has_difficulty = True
    per_repeat = []
    total, done = folds * repeats, 0
    for repeat in range(repeats):
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        for fold, (train, test) in enumerate(splitter.split(X)):
            fold_ids[repeat, test] = fold
            where = f"fold {fold + 1} of {folds}" + (f", repeat {repeat + 1} of {repeats}" if repeats > 1 else "")
            model = make_backend(backend, **params).fit(
                X[train],
                y[train],
                band_names,
                progress=lambda f, m, done=done, where=where: progress((done + f) / total, f"{where}: {m}"),
            )
            predictions[repeat, test] = model.predict(X[test])
            d = model.difficulty(X[test])
            if d is None:
                has_difficulty = False
            else:
                difficulty[repeat, test] = d
            done += 1
            progress(done / total, f"{where}: done")
        per_repeat.append(regression_metrics(y, predictions[repeat]))
    return CVResult(backend, folds, repeats, per_repeat, predictions, fold_ids, difficulty if has_difficulty else None)


def format_summary_table(results: list[CVResult]) -> str:
    """A plain-text table: one row per metric, one column per backend, 'mean ± sd'."""
    header = ["metric"] + [f"{r.backend} ({r.folds}x{r.repeats} CV)" for r in results]
    rows = [header]
    summaries = [r.summary() for r in results]
    for key, label in METRIC_LABELS.items():
        cells = [label]
        for summary in summaries:
            mean, sd = summary[key]["mean"], summary[key]["sd"]
            digits = 0 if key.endswith("_ppb") else 3
            cells.append(f"{mean:,.{digits}f} ± {sd:,.{digits}f}")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)

"""Repeated k-fold cross-validation and metrics in ppb.

One CV routine, `out_of_fold`, serves evaluation, training, tuning and the benchmarks: scikit-learn's cross_validate
fits a clone of the estimator in every fold, so every fitted step (scaling, target transform, early stopping, an
inner search) sees only that fold's training rows. Metrics are computed on each repeat's out-of-fold predictions and
reported as the mean and standard deviation over repeats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import model_selection
from sklearn.metrics import mean_absolute_error, median_absolute_error, r2_score, roc_auc_score
from sklearn.model_selection import KFold

from don_predictor.config import CV_CLASSIFICATION_LIMIT_PPB
from don_predictor.modeling.backends import Backend, make_backend
from don_predictor.modeling.backends.base import FIT_STARTED, ProgressCallback, no_progress
from don_predictor.trust.intervals import DEFAULT_LEVEL, ConformalIntervals

METRIC_LABELS = {
    "r2": "R² (ppb)",
    "rmse_ppb": "RMSE (ppb)",
    "mae_ppb": "MAE (ppb)",
    "median_ae_ppb": "median AE (ppb)",
    "bias_ppb": "bias (ppb)",
    "rpd": "RPD",
    "r2_log": "R² (log1p)",
    "roc_auc": f"ROC AUC (> {CV_CLASSIFICATION_LIMIT_PPB:,.0f} ppb)",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
}


def regression_metrics(
    y_ppb: np.ndarray, predicted_ppb: np.ndarray, limit_ppb: float = CV_CLASSIFICATION_LIMIT_PPB
) -> dict:
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


def repeated_kfold(folds: int, repeats: int, seed: int = 0) -> list[KFold]:
    """The project's repeated k-fold: one shuffled KFold per repeat, repeat r seeded with seed + r. (RepeatedKFold
    draws its repeats' seeds from one generator instead: other folds than those behind the figures in docs/.)"""
    return [KFold(n_splits=folds, shuffle=True, random_state=seed + repeat) for repeat in range(repeats)]


Scorer = Callable[[Any, np.ndarray], tuple[np.ndarray, np.ndarray | None]]  # (fitted model, X) -> scores, difficulty


def ppb_and_difficulty(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A backend's prediction and difficulty from one pass; any other regressor's prediction alone."""
    if isinstance(model, Backend):
        return model.predict_with_difficulty(X)
    return model.predict(X), None


@dataclass
class OutOfFold:
    scores: np.ndarray  # (rows,) each row scored by the model fitted without its fold (ppb for a regressor)
    difficulty: np.ndarray | None  # (rows,) when every fold's model estimates its own uncertainty
    fold_ids: np.ndarray  # (rows,) the fold in which each row was held out
    models: list  # the fitted fold models, in fold order


def out_of_fold(
    estimator,
    X: np.ndarray,
    y: np.ndarray,
    cv: KFold,
    *,
    score: Scorer = ppb_and_difficulty,
    progress: ProgressCallback | None = None,
) -> OutOfFold:
    """Fit a clone of `estimator` on each training part of `cv` (a partition: every row is held out once) and score
    the held-out rows with it. `progress`, when given, goes to each backend's fit."""
    fitted = model_selection.cross_validate(
        estimator,
        X,
        y,
        cv=cv,
        params={} if progress is None else {"progress": progress},
        return_estimator=True,
        return_indices=True,
        error_score="raise",  # a fold that fails stops the CV instead of scoring NaN
    )
    scores, difficulty = np.zeros(len(y)), np.zeros(len(y))
    fold_ids = np.zeros(len(y), dtype=int)
    has_difficulty = True
    for fold, (model, test) in enumerate(zip(fitted["estimator"], fitted["indices"]["test"], strict=True)):
        scores[test], d = score(model, X[test])
        fold_ids[test] = fold
        has_difficulty = has_difficulty and d is not None
        if d is not None:
            difficulty[test] = d
    return OutOfFold(scores, difficulty if has_difficulty else None, fold_ids, fitted["estimator"])


class FoldProgress:
    """One fit's progress (0..1) as the whole CV's: the folds' fits run one after another, and each fit starts by
    reporting (0, FIT_STARTED)."""

    def __init__(self, folds: int, repeats: int, progress: ProgressCallback):
        self.folds, self.repeats, self.progress = folds, repeats, progress
        self.fits = -1

    def __call__(self, fraction: float, message: str) -> None:
        if fraction == 0.0 and message == FIT_STARTED:
            self.fits += 1
        repeat, fold = divmod(self.fits, self.folds)
        where = f"fold {fold + 1} of {self.folds}" + (
            f", repeat {repeat + 1} of {self.repeats}" if self.repeats > 1 else ""
        )
        self.progress((self.fits + fraction) / (self.folds * self.repeats), f"{where}: {message}")


def cross_validate(
    backend: str | Backend,
    X: np.ndarray,
    y: np.ndarray,
    band_names: list[str] | None = None,
    *,
    folds: int = 5,
    repeats: int = 5,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    progress: ProgressCallback = no_progress,
) -> CVResult:
    """Repeated k-fold CV of a backend (by name with these settings, or an unfitted one). The fold models are scored
    and dropped, so they need no band names (`band_names` is accepted for the callers that pass it)."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if len(y) < folds:
        raise ValueError(f"{folds}-fold cross-validation needs at least {folds} rows with a target, got {len(y)}")
    estimator = backend if isinstance(backend, Backend) else make_backend(backend, **(params or {}))
    fold_progress = FoldProgress(folds, repeats, progress)
    return repeated_cross_validation(
        estimator, X, y, estimator.name, folds=folds, repeats=repeats, seed=seed, progress=fold_progress
    )


def repeated_cross_validation(
    estimator,
    X: np.ndarray,
    y: np.ndarray,
    label: str,
    *,
    folds: int,
    repeats: int,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    on_repeat: Callable[[int, OutOfFold], None] | None = None,
) -> CVResult:
    """out_of_fold over each repeat of repeated_kfold, with the metrics of each repeat; `on_repeat(repeat, run)` sees
    each repeat's fold models before they are dropped (a tuning benchmark reads the settings they chose)."""
    predictions = np.zeros((repeats, len(y)))
    fold_ids = np.zeros((repeats, len(y)), dtype=int)
    difficulty: np.ndarray | None = np.zeros((repeats, len(y)))
    for repeat, cv in enumerate(repeated_kfold(folds, repeats, seed)):
        run = out_of_fold(estimator, X, y, cv, progress=progress)
        predictions[repeat], fold_ids[repeat] = run.scores, run.fold_ids
        if run.difficulty is None:
            difficulty = None
        elif difficulty is not None:
            difficulty[repeat] = run.difficulty
        if on_repeat is not None:
            on_repeat(repeat, run)
    per_repeat = [regression_metrics(y, p) for p in predictions]
    return CVResult(label, folds, repeats, per_repeat, predictions, fold_ids, difficulty)


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

"""Train a backend on a validated table, measure it by cross-validation and save it as a new registry version."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np

from don_predictor.logs import event
from don_predictor.modeling.backends import make_backend
from don_predictor.modeling.backends.base import ProgressCallback, no_progress
from don_predictor.modeling.evaluation import cross_validate
from don_predictor.modeling.importance import impurity_importance, permutation_importance_by_window
from don_predictor.modeling.quality import DEFAULT_LIMIT_PPB
from don_predictor.modeling.screening_power import SCREENED_LIMITS_PPB, screening_summary
from don_predictor.services.permissions import Actor, require
from don_predictor.spectra.table import SpectraTable
from don_predictor.store.registry import ModelVersion, Registry
from don_predictor.tracing import span
from don_predictor.trust.bundle import Trust, spectrum_hashes
from don_predictor.trust.domain import DomainModel
from don_predictor.trust.intervals import DEFAULT_LEVEL, ConformalIntervals
from don_predictor.trust.screening import DEFAULT_RISK, Risk, ScreeningCalibration


class TrainingDataError(ValueError):
    """The calibration table cannot train a model."""


MIN_TRAINING_ROWS = 10


class TrainingStages:
    """Maps each stage's own progress (0..1) onto the whole job's, weighted by the stage's usual cost.

    A CV fold fits on 4/5 of the rows; band importance re-predicts a few hundred rows 112 times, which costs a
    forest (one thread, every band per split) far more than the networks.
    """

    def __init__(self, backend: str, cv_fits: int, progress: ProgressCallback):
        self.weights = {
            "cross-validation": 0.8 * cv_fits,
            "final fit": 1.0,
            "calibration": 0.05,
            "band importance": 0.25 if backend == "rf" else 0.05,
            "saving": 0.02,
        }
        self.total = sum(self.weights.values())
        self.progress = progress

    def reporter(self, stage: str) -> ProgressCallback:
        names = list(self.weights)
        before = sum(self.weights[name] for name in names[: names.index(stage)])

        def report(fraction: float, message: str) -> None:
            done = (before + self.weights[stage] * min(max(fraction, 0.0), 1.0)) / self.total
            self.progress(done, f"{stage}: {message}")

        return report


def train_and_register(table: SpectraTable, backend: str, registry: Registry, **options: Any) -> ModelVersion:
    """_train_and_register (its options) in one "train" span, with a child span per stage."""
    attributes = {"backend": backend, "rows": int(table.trainable.sum()), "bands": len(table.band_names)}
    with span("train", **attributes, folds=options.get("cv_folds", 5)) as whole:
        saved = _train_and_register(table, backend, registry, **options)
        whole.set_attribute("version", saved.version)
        return saved


def _train_and_register(
    table: SpectraTable,
    backend: str,
    registry: Registry,
    *,
    data_bytes: bytes,
    data_name: str,
    params: dict[str, Any] | None = None,
    cv_folds: int = 5,
    cv_repeats: int = 1,
    activate: bool = True,
    interval_level: float = DEFAULT_LEVEL,
    judged_limit_ppb: float = DEFAULT_LIMIT_PPB,
    risk: Risk = DEFAULT_RISK,
    progress: ProgressCallback = no_progress,
    by: Actor | None = None,
) -> ModelVersion:
    """Cross-validate, fit on all usable rows, calibrate, measure band importance and save a new version (checked
    against `by`'s role first, and audited, by the registry).

    Progress goes from 0 to 1 over these stages, each weighted by its usual share of the time (TrainingStages).
    """
    require(by, "train")  # before minutes of fitting, not only at the save
    if activate:
        require(by, "activate")
    usable = table.trainable
    if usable.sum() < MIN_TRAINING_ROWS:
        raise TrainingDataError(
            f"only {usable.sum()} rows have a complete spectrum and a valid vomitoxin_ppb; "
            f"training needs at least {MIN_TRAINING_ROWS}"
        )
    X, y = table.X[usable], table.target[usable]
    params = dict(params or {})
    started = time.perf_counter()
    stages = TrainingStages(backend, cv_folds * cv_repeats, progress)
    cv_metrics, intervals, coverage, screening = None, None, None, None
    if cv_repeats > 0:
        with span("train.cross_validation", fits=cv_folds * cv_repeats):
            result = cross_validate(
                backend,
                X,
                y,
                table.band_names,
                folds=cv_folds,
                repeats=cv_repeats,
                params=params,
                progress=stages.reporter("cross-validation"),
            )
            # What the version decides at each screened limit, out of fold: the figures the gate judges it by.
            limits = tuple(sorted({*SCREENED_LIMITS_PPB, float(judged_limit_ppb)}))
            cv_metrics = result.for_manifest() | {
                "screening": screening_summary(y, result.oof_predictions, result.fold_ids, limits, risk)
            }
    with span("train.final_fit"):
        model = make_backend(backend, **params).fit(X, y, table.band_names, progress=stages.reporter("final fit"))
    stages.reporter("calibration")(0.0, "intervals and applicability domain")
    with span("train.calibration"):
        if cv_repeats > 0:
            # Intervals are calibrated on every out-of-fold residual; their coverage is checked fold by fold.
            difficulty = None if result.oof_difficulty is None else result.oof_difficulty.ravel()
            intervals = ConformalIntervals.fit(
                np.tile(y, cv_repeats), result.oof_predictions.ravel(), interval_level, difficulty
            )
            coverage = result.interval_coverage(y, interval_level)
            # The screening verdicts need one out-of-fold score per sample: the first repeat's
            # (docs/validation_report.md).
            screening = ScreeningCalibration(y, result.oof_predictions[0])
        # Attached after fit, not learned in it: the intervals and screening thresholds come from the CV's
        # out-of-fold predictions, which one fit on all rows cannot give (a cross-conformal wrapper, as MAPIE's,
        # does the same).
        model.trust = Trust(intervals, DomainModel.fit(X), screening, spectrum_hashes(X))
    stages.reporter("band importance")(0.0, "shuffling windows of bands")
    with span("train.band_importance"):
        importance = {
            "permutation": permutation_importance_by_window(model, X, y),
            "impurity": impurity_importance(model),
        }
    training = {
        "data_name": data_name,
        "data_sha256": hashlib.sha256(data_bytes).hexdigest(),
        "n_rows": int(usable.sum()),
        "n_rows_skipped": int((~usable).sum()),
        "cv_metrics": cv_metrics,
        "intervals": {
            "level": interval_level,
            "half_width_sqrt_ppb": intervals.half_width_sqrt,
            "scaled": intervals.scaled,
            **coverage,
        }
        if intervals
        else None,
        "band_importance": importance,
        "domain": {
            "t2_limit": model.trust.domain.t2_limit,
            "q_limit": model.trust.domain.q_limit,
            "baseline_limit": model.trust.domain.baseline_limit,
        },
        "screening": {"calibration_samples": len(screening.y_ppb), "score": "out-of-fold prediction, first CV repeat"}
        if screening
        else None,
        "training_seconds": round(time.perf_counter() - started, 2),
        "training_mean_spectrum": [round(float(v), 6) for v in X.mean(axis=0)],  # for per-sample drill-down
    }
    stages.reporter("saving")(0.0, "writing the model version")
    with span("train.save", activate=activate):
        saved = registry.save(model, training, activate=activate, by=by)
    event(
        "trained",
        backend=backend,
        version=saved.version,
        rows=training["n_rows"],
        seconds=time.perf_counter() - started,
    )
    return saved

"""Train a backend on a validated table, measure it by cross-validation and save it as a new registry version."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np

from don_predictor.logs import event
from don_predictor.modeling.backends import make_backend
from don_predictor.modeling.backends.base import ProgressCallback, no_progress
from don_predictor.modeling.importance import impurity_importance, permutation_importance_by_window
from don_predictor.modeling.quality import DEFAULT_LIMIT_PPB
from don_predictor.modeling.screened import ScreenedRegressor, Stages
from don_predictor.modeling.screening_power import SCREENED_LIMITS_PPB
from don_predictor.spectra.table import SpectraTable
from don_predictor.store import governance
from don_predictor.store.registry import ModelVersion, Registry
from don_predictor.tracing import span
from don_predictor.trust.intervals import DEFAULT_LEVEL
from don_predictor.trust.screening import DEFAULT_RISK, Risk


class TrainingDataError(ValueError):
    """The calibration table cannot train a model."""


MIN_TRAINING_ROWS = 10


def training_stages(model: ScreenedRegressor, progress: ProgressCallback) -> Stages:
    """The fit's stages, then band importance (a few hundred rows re-predicted 112 times, which costs a forest, one
    thread and every band per split, far more than the networks) and the save."""
    return Stages(
        {
            "fit": sum(model.stage_weights().values()),
            "band importance": 0.25 if model.name == "rf" else 0.05,
            "saving": 0.02,
        },
        progress,
    )


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
    by: Any = None,  # who trains (a services.permissions.Actor): checked by the caller first, then the registry
) -> ModelVersion:
    """Cross-validate, fit on all usable rows, calibrate (a ScreenedRegressor), measure band importance and save a
    new version through governance, which activates it when asked without a review. The caller checks `by`'s
    role before minutes of fitting; the registry checks it again at the save and audits it.

    Progress goes from 0 to 1 over the stages, each weighted by its usual share of the time (training_stages).
    """
    usable = table.trainable
    if usable.sum() < MIN_TRAINING_ROWS:
        raise TrainingDataError(
            f"only {usable.sum()} rows have a complete spectrum and a valid vomitoxin_ppb; "
            f"training needs at least {MIN_TRAINING_ROWS}"
        )
    X, y = table.X[usable], table.target[usable]
    started = time.perf_counter()
    model = ScreenedRegressor(
        make_backend(backend, **(params or {})),
        cv=cv_folds,
        repeats=cv_repeats,
        level=interval_level,
        limits=(*SCREENED_LIMITS_PPB, float(judged_limit_ppb)),
        risk=risk,
    )
    stages = training_stages(model, progress)
    model.fit(X, y, table.band_names, progress=stages.reporter("fit", named=False))
    stages.reporter("band importance")(0.0, "shuffling windows of bands")
    with span("train.band_importance"):
        importance = {
            "permutation": permutation_importance_by_window(model.estimator_, X, y),
            "impurity": impurity_importance(model.estimator_),
        }
    training = training_record(model, X, usable, importance, data_bytes=data_bytes, data_name=data_name)
    training["training_seconds"] = round(time.perf_counter() - started, 2)
    stages.reporter("saving")(0.0, "writing the model version")
    with span("train.save", activate=activate):
        saved = governance.register(registry, model, training, activate=activate, by=by)
    event(
        "trained",
        backend=backend,
        version=saved.version,
        rows=training["n_rows"],
        seconds=time.perf_counter() - started,
    )
    return saved


def training_record(
    model: ScreenedRegressor,
    X: np.ndarray,
    usable: np.ndarray,
    importance: dict[str, Any],
    *,
    data_bytes: bytes,
    data_name: str,
) -> dict[str, Any]:
    """What the manifest says of how a fitted model was trained and measured."""
    trust = model.trust_
    intervals = trust.intervals
    return {
        "data_name": data_name,
        "data_sha256": hashlib.sha256(data_bytes).hexdigest(),
        "n_rows": int(usable.sum()),
        "n_rows_skipped": int((~usable).sum()),
        "cv_metrics": model.cv_metrics_,
        "intervals": {
            "level": intervals.level,
            "half_width_sqrt_ppb": intervals.half_width_sqrt,
            "scaled": intervals.scaled,
            **model.interval_coverage_,
        }
        if intervals
        else None,
        "band_importance": importance,
        "domain": {
            "t2_limit": trust.domain.t2_limit,
            "q_limit": trust.domain.q_limit,
            "baseline_limit": trust.domain.baseline_limit,
        },
        "screening": {
            "calibration_samples": len(trust.screening.y_ppb),
            "score": "out-of-fold prediction, first CV repeat",
        }
        if trust.screening
        else None,
        "training_mean_spectrum": [round(float(v), 6) for v in X.mean(axis=0)],  # for per-sample drill-down
    }

"""Train a backend on a validated table, measure it by cross-validation and save it as a new registry version."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from don_predictor.backends import make_backend
from don_predictor.backends.base import ProgressCallback, no_progress
from don_predictor.evaluation import cross_validate
from don_predictor.registry import ModelVersion, Registry
from don_predictor.spectra import SpectraTable


class TrainingDataError(ValueError):
    """The calibration table cannot train a model."""


MIN_TRAINING_ROWS = 10


def train_and_register(
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
    progress: ProgressCallback = no_progress,
) -> ModelVersion:
    """Cross-validate (progress 0..0.5 when cv_repeats > 0), fit on all usable rows (..1.0), save a new version."""
    usable = table.trainable
    if usable.sum() < MIN_TRAINING_ROWS:
        raise TrainingDataError(
            f"only {usable.sum()} rows have a complete spectrum and a valid vomitoxin_ppb; "
            f"training needs at least {MIN_TRAINING_ROWS}"
        )
    X, y = table.X[usable], table.target[usable]
    params = dict(params or {})
    started = time.perf_counter()
    cv_metrics = None
    share = 0.5 if cv_repeats > 0 else 0.0
    if cv_repeats > 0:
        result = cross_validate(
            backend,
            X,
            y,
            table.band_names,
            folds=cv_folds,
            repeats=cv_repeats,
            params=params,
            progress=lambda f, m: progress(share * f, f"cross-validation: {m}"),
        )
        cv_metrics = result.for_manifest()
    model = make_backend(backend, **params).fit(
        X, y, table.band_names, progress=lambda f, m: progress(share + (1 - share) * f, f"final fit: {m}")
    )
    training = {
        "data_name": data_name,
        "data_sha256": hashlib.sha256(data_bytes).hexdigest(),
        "n_rows": int(usable.sum()),
        "n_rows_skipped": int((~usable).sum()),
        "cv_metrics": cv_metrics,
        "training_seconds": round(time.perf_counter() - started, 2),
        "training_mean_spectrum": [round(float(v), 6) for v in X.mean(axis=0)],  # for per-sample drill-down
    }
    return registry.save(model, training, activate=activate)

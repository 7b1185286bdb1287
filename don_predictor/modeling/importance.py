"""Which bands a model relies on: permutation importance over windows of neighbouring bands (both backends) and the
forest's impurity importance (RF).

Neighbouring bands are nearly collinear, so permuting one band alone barely moves a prediction; permuting a window
of bands together asks the useful question (does this region of the spectrum matter?) and costs 56 rather than 448
rounds of predictions.
"""

from __future__ import annotations

import numpy as np

from don_predictor.modeling.backends import Backend
from don_predictor.modeling.preprocessing import sqrt_ppb

WINDOW = 8


def permutation_importance_by_window(
    model: Backend,
    X: np.ndarray,
    y_ppb: np.ndarray,
    window: int = WINDOW,
    repeats: int = 2,
    max_rows: int = 300,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Increase in mean absolute error on the sqrt(ppb) scale when a window's rows are shuffled together.

    At most `max_rows` rows (a random sample) keep the cost to seconds for a 300-tree forest.
    """
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(X))[:max_rows]
    X = np.asarray(X, float)[rows]
    target = sqrt_ppb(np.asarray(y_ppb, float)[rows])

    def error(matrix: np.ndarray) -> float:
        return float(np.mean(np.abs(sqrt_ppb(model.predict(matrix)) - target)))

    baseline = error(X)
    starts = list(range(0, X.shape[1], window))
    increases = []
    for start in starts:
        stop = min(start + window, X.shape[1])
        scores = []
        for _ in range(repeats):
            shuffled = X.copy()
            shuffled[:, start:stop] = X[rng.permutation(len(X)), start:stop]
            scores.append(error(shuffled) - baseline)
        increases.append(float(np.mean(scores)))
    return {"window_start": starts, "window": window, "mae_increase_sqrt_ppb": increases}


def impurity_importance(model: Backend) -> list[float] | None:
    """The forest's mean decrease in impurity per band (RF only)."""
    forest = getattr(model, "model_", None)
    estimator = forest[-1] if hasattr(forest, "__getitem__") else None
    values = getattr(estimator, "feature_importances_", None)
    return None if values is None else [float(v) for v in values]

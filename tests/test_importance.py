"""Band importance finds the bands a model uses and no others."""

from __future__ import annotations

import numpy as np

from don_predictor.modeling.backends import make_backend
from don_predictor.modeling.importance import impurity_importance, permutation_importance_by_window


class UsesOneWindow:
    """A stand-in model whose prediction depends on bands 16-23 only."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        return 1000.0 * X[:, 16:24].mean(axis=1) ** 2


def test_permutation_importance_is_positive_for_the_used_window_and_zero_elsewhere():
    X = np.random.default_rng(0).uniform(0.2, 0.9, (120, 64))
    y = UsesOneWindow().predict(X)
    result = permutation_importance_by_window(UsesOneWindow(), X, y, window=8, repeats=2)
    assert result["window_start"] == list(range(0, 64, 8)) and result["window"] == 8
    increases = np.array(result["mae_increase_sqrt_ppb"])
    assert increases[2] > 1.0  # bands 16-23
    assert np.all(increases[np.arange(8) != 2] == 0.0)


def test_permutation_importance_samples_at_most_max_rows():
    calls = []

    class Counting(UsesOneWindow):
        def predict(self, X):
            calls.append(len(X))
            return super().predict(X)

    X = np.random.default_rng(1).uniform(0.2, 0.9, (500, 24))
    permutation_importance_by_window(Counting(), X, Counting().predict(X), window=8, repeats=1, max_rows=50)
    assert calls[1:] == [50, 50, 50, 50]  # the baseline, then one shuffle per window, each on the 50 sampled rows


def test_impurity_importance_of_a_forest_points_at_the_informative_band():
    rng = np.random.default_rng(2)
    X = rng.uniform(0.2, 0.9, (200, 12))
    y = 5000.0 * X[:, 7] ** 2
    forest = make_backend("rf", n_estimators=20, preprocessing="none").fit(X, y, [str(b) for b in range(12)])
    importance = impurity_importance(forest)
    assert len(importance) == 12 and np.argmax(importance) == 7
    assert abs(sum(importance) - 1.0) < 1e-6


def test_a_model_without_impurity_importance_gives_none():
    assert impurity_importance(UsesOneWindow()) is None

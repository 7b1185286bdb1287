"""The out-of-fold screening figures a version is judged by (modeling/screening_power.py), on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from don_predictor.modeling.quality import headline, screening_at
from don_predictor.modeling.screening_power import screening_power, screening_summary


def folds(n: int, k: int = 5) -> np.ndarray:
    return np.arange(n) % k


def test_a_perfect_ranking_decides_most_samples_and_clears_no_truly_above_one():
    rng = np.random.default_rng(0)
    y = rng.lognormal(6.5, 1.5, 400)
    power = screening_power(y, y.copy(), folds(len(y)), 1500.0)
    assert power["auc"] == pytest.approx(1.0)
    assert power["false_compliant"] == 0.0 and power["false_suspect"] == 0.0
    assert power["decided"] > 0.85 and 0 < power["cleared"] < power["decided"]


def test_a_score_that_ignores_the_sample_decides_nothing_useful():
    rng = np.random.default_rng(1)
    y = rng.lognormal(6.5, 1.5, 400)
    noise = rng.permutation(y)  # the right values, on the wrong samples
    power = screening_power(y, noise, folds(len(y)), 1500.0)
    assert abs(power["auc"] - 0.5) < 0.1
    # What it clears, it clears at about the rate it was calibrated for: the guarantee holds whatever the model.
    assert power["cleared"] < 0.1 and power["false_compliant"] <= 0.1


def test_too_few_truly_above_samples_decide_nothing():
    y = np.r_[np.full(190, 100.0), np.full(10, 9000.0)]  # 10 above 5,000 ppb: 19 are needed at 5 %
    power = screening_power(y, y.copy(), folds(len(y)), 5000.0)
    assert power["decided"] == 0.0 and power["cleared"] == 0.0


def test_the_summary_keeps_each_limit_over_repeats_and_the_headline_reads_it():
    rng = np.random.default_rng(2)
    y = rng.lognormal(6.5, 1.5, 300)
    scores = np.stack([y * rng.lognormal(0, 0.3, len(y)) for _ in range(3)])
    fold_ids = np.stack([rng.permutation(folds(len(y))) for _ in range(3)])
    summary = screening_summary(y, scores, fold_ids, (1000.0, 1500.0))
    assert summary["false_compliant_rate"] == 0.05 and set(summary["limits"]) == {"1000", "1500"}
    at_limit = summary["limits"]["1500"]["decided"]
    assert 0 < at_limit["mean"] < 1 and at_limit["sd"] > 0  # three repeats: a spread
    cv = {"metrics": {"mae_ppb": {"mean": 2611.0}, "r2": {"mean": -0.01}}, "screening": summary}
    figures = screening_at(cv, 1500)
    assert headline(cv, 1500) == (
        f"decides {figures['decided']:.0%} of samples at 1,500 ppb (false-compliant ≤ 5%), MAE 2,611 ppb, CV R² -0.01"
    )
    # A limit the version was not measured at: the headline falls back to the default limit's figures.
    assert headline(cv, 5000).startswith(f"decides {figures['decided']:.0%} of samples at 1,500 ppb")
    assert headline({}) == "not cross-validated: nothing shows how good it is"

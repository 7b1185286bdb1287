"""Metrics on hand-made cases, and repeated k-fold CV that fits every step inside the folds."""

from __future__ import annotations

import numpy as np
import pytest

from don_predictor.evaluation import cross_validate, format_summary_table, regression_metrics


def test_metrics_on_a_hand_made_case():
    y = np.array([0.0, 500.0, 2000.0, 4000.0])
    p = np.array([100.0, 400.0, 2500.0, 3000.0])
    m = regression_metrics(y, p)
    assert m["mae_ppb"] == pytest.approx((100 + 100 + 500 + 1000) / 4)
    assert m["rmse_ppb"] == pytest.approx(np.sqrt((100**2 + 100**2 + 500**2 + 1000**2) / 4))
    assert m["bias_ppb"] == pytest.approx((100 - 100 + 500 - 1000) / 4)
    assert m["median_ae_ppb"] == pytest.approx(300.0)
    assert m["rpd"] == pytest.approx(np.std(y, ddof=1) / m["rmse_ppb"])
    assert m["roc_auc"] == pytest.approx(1.0)  # both samples above 1,000 ppb are ranked above both below
    assert m["sensitivity"] == 1.0 and m["specificity"] == 1.0


def test_perfect_and_mean_predictions():
    y = np.array([10.0, 200.0, 3000.0, 40000.0])
    assert regression_metrics(y, y)["r2"] == pytest.approx(1.0)
    assert regression_metrics(y, np.full(4, y.mean()))["r2"] == pytest.approx(0.0)


def test_cv_is_repeated_and_reports_mean_and_spread(demo_table):
    X, y = demo_table.X[:150], demo_table.target[:150]
    result = cross_validate("rf", X, y, demo_table.band_names, folds=3, repeats=2, params={"n_estimators": 10})
    assert result.oof_predictions.shape == (2, 150)
    assert len(result.per_repeat) == 2
    summary = result.summary()
    assert summary["r2_log"]["mean"] > 0.3
    assert summary["mae_ppb"]["sd"] > 0  # two different shuffles give different folds
    assert "rf (3x2 CV)" in format_summary_table([result])


def test_shuffled_target_learns_nothing(demo_table):
    """Leakage guard: if any fitted step saw the test folds, a shuffled target would still score."""
    rng = np.random.default_rng(1)
    y = rng.permutation(demo_table.target)
    result = cross_validate(
        "rf", demo_table.X, y, demo_table.band_names, folds=5, repeats=1, params={"n_estimators": 10}
    )
    assert result.summary()["r2_log"]["mean"] <= 0.05


def test_too_few_rows_for_the_folds_is_refused(demo_table):
    with pytest.raises(ValueError, match="needs at least 5 rows"):
        cross_validate("rf", demo_table.X[:3], demo_table.target[:3], demo_table.band_names, folds=5, repeats=1)

"""Metrics on hand-made cases, and repeated k-fold CV that fits every step inside the folds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from don_predictor.modeling.backends import make_backend
from don_predictor.modeling.evaluation import (
    cross_validate,
    format_summary_table,
    out_of_fold,
    regression_metrics,
    repeated_kfold,
)


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


def test_one_cv_routine_fits_each_fold_on_its_training_rows_only(demo_table):
    """out_of_fold gives what fitting by hand on each training part and predicting its test part gives, bit for bit."""
    X, y = demo_table.X[:90], demo_table.target[:90]
    cv = repeated_kfold(3, 2, seed=4)[1]
    assert cv.random_state == 5  # repeat r shuffles with seed + r, the seeds of the figures in docs/
    run = out_of_fold(make_backend("rf", n_estimators=5), X, y, cv)
    for fold, (train, test) in enumerate(cv.split(X)):
        model = make_backend("rf", n_estimators=5).fit(X[train], y[train])
        np.testing.assert_array_equal(run.scores[test], model.predict(X[test]))
        np.testing.assert_array_equal(run.difficulty[test], model.difficulty(X[test]))
        assert (run.fold_ids[test] == fold).all() and run.models[fold] is not model


def test_any_scikit_learn_estimator_goes_through_the_same_routine(demo_table):
    X, y = demo_table.X[:60], demo_table.target[:60]
    search = GridSearchCV(make_backend("pls", components=[2]), {"target_transform": ["sqrt", "log1p"]}, cv=3)
    run = out_of_fold(search, X, y, repeated_kfold(3, 1)[0])
    assert run.difficulty is None and np.isfinite(run.scores).all()
    assert {m.best_params_["target_transform"] for m in run.models} <= {"sqrt", "log1p"}


def test_cv_progress_counts_the_folds_of_every_repeat(demo_table):
    reports = []
    cross_validate(
        "pls",
        demo_table.X[:60],
        demo_table.target[:60],
        folds=3,
        repeats=2,
        params={"components": [2]},
        progress=lambda fraction, message: reports.append((fraction, message)),
    )
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert reports[-1][1] == "fold 3 of 3, repeat 2 of 2: 2 latent variables"

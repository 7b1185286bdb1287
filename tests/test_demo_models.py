"""`train --quick`: the small demo models that `make models` and a first `make run` build (issue 13)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from don_predictor import cli


@pytest.fixture
def trainings(monkeypatch) -> list[dict]:
    """Records what each `train` would fit instead of fitting it."""
    seen: list[dict] = []

    def record(table, backend, registry, **kwargs):
        seen.append({"backend": backend, **kwargs})
        return SimpleNamespace(version=f"{backend}-v", cv_metrics={}, cv_mean=lambda metric: None)

    monkeypatch.setattr("don_predictor.modeling.training.train_and_register", record)
    return seen


def test_quick_trains_smaller_models_with_a_two_fold_cv(trainings, demo_calibration, tmp_path, capsys):
    argv = ["train", "--data", str(demo_calibration), "--models-dir", str(tmp_path), "--no-activate"]
    assert cli.main([*argv, "--quick"]) == 0
    assert cli.main(argv) == 0
    quick, default = trainings[:2], trainings[2:]
    for q, d in zip(quick, default, strict=True):
        assert q["cv_folds"] == cli.QUICK_CV_FOLDS < d["cv_folds"] == 5
        assert q["params"] == {"seed": 0, **cli.QUICK_PARAMS[q["backend"]]} and d["params"] == {"seed": 0}
    assert quick[0]["params"]["n_estimators"] < 300 and quick[1]["params"]["epochs"] < 300
    err = capsys.readouterr().err
    trees = cli.QUICK_PARAMS["rf"]["n_estimators"]
    assert f"rf: quick demo model (n_estimators {trees}" in err  # says in the terminal what it is doing


def test_explicit_options_win_over_quick(trainings, demo_calibration, tmp_path):
    argv = ["train", "--data", str(demo_calibration), "--models-dir", str(tmp_path), "--no-activate", "--quick"]
    assert cli.main([*argv, "--trees", "10", "--epochs", "5", "--cv-folds", "3"]) == 0
    rf, tf = trainings
    assert rf["params"]["n_estimators"] == 10 and tf["params"]["epochs"] == 5
    assert rf["cv_folds"] == tf["cv_folds"] == 3

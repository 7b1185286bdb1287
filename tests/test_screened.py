"""ScreenedRegressor: one estimator that learns its backend and its trust in one fit, as CalibratedClassifierCV does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from don_predictor.modeling.backends import make_backend
from don_predictor.modeling.evaluation import cross_validate
from don_predictor.modeling.screened import ScreenedRegressor
from don_predictor.store import governance
from don_predictor.trust.bundle import TRUST_FILE, Trust

ROOT = Path(__file__).resolve().parents[1]


def screened(**settings) -> ScreenedRegressor:
    return ScreenedRegressor(make_backend("rf", n_estimators=5), cv=3, **settings)


@pytest.fixture(scope="module")
def fitted(demo_table) -> ScreenedRegressor:
    return screened().fit(demo_table.X[:150], demo_table.target[:150], demo_table.band_names)


def test_fit_sets_trust_and_a_fresh_estimator_has_none(fitted):
    fresh = screened()
    assert fresh.trust is None and not hasattr(fresh, "trust_") and not hasattr(fresh, "estimator_")
    assert isinstance(fitted.trust_, Trust) and fitted.trust is fitted.trust_
    assert fitted.trust_.intervals is not None and fitted.trust_.screening is not None
    assert len(fitted.trust_.screening.y_ppb) == 150 and len(fitted.trust_.training_hashes) == 150
    assert set(fitted.cv_metrics_) >= {"folds", "repeats", "metrics", "screening"}
    assert 0.0 <= fitted.interval_coverage_["coverage"] <= 1.0
    assert fitted.band_names == fitted.estimator_.band_names and fitted.name == "rf"


def test_a_clone_refits_its_own_trust(fitted, demo_table):
    twin = clone(fitted)
    assert twin.trust is None and not hasattr(twin, "estimator_")  # clone keeps settings, never fitted state
    twin.fit(demo_table.X[150:300], demo_table.target[150:300], demo_table.band_names)
    assert twin.trust_ is not fitted.trust_
    assert not np.isin(twin.trust_.training_hashes, fitted.trust_.training_hashes).any()
    assert not np.allclose(twin.trust_.domain.mean, fitted.trust_.domain.mean)


def test_its_cv_figures_are_those_of_the_same_folds_and_seeds(fitted, demo_table):
    X, y = demo_table.X[:150], demo_table.target[:150]
    alone = cross_validate("rf", X, y, folds=3, repeats=1, params={"n_estimators": 5})
    assert fitted.cv_metrics_["metrics"] == alone.for_manifest()["metrics"]


def test_without_cross_validation_only_the_domain_is_fitted(demo_table):
    model = screened(repeats=0).fit(demo_table.X[:60], demo_table.target[:60])
    assert model.cv_metrics_ is None and model.interval_coverage_ is None
    assert model.trust_.intervals is None and model.trust_.screening is None and model.trust_.domain is not None
    assert set(model.predict_with_trust(demo_table.X[:3])) == {"ppb", "in_domain", "t2", "q", "baseline"}


def test_a_loaded_version_scores_as_the_fitted_estimator(fitted, registry, demo_table):
    saved = governance.register(registry, fitted, {"n_rows": 150})
    loaded = registry.load("rf", saved.version)
    X = demo_table.X[300:320]
    expected, got = fitted.predict_with_trust(X), loaded.predict_with_trust(X)
    assert set(got) == {"ppb", "low_ppb", "high_ppb", "in_domain", "t2", "q", "baseline"}
    for key, values in expected.items():
        np.testing.assert_array_equal(got[key], values)
    assert loaded.band_names == demo_table.band_names and loaded.label == "RandomForest"
    assert loaded.trust.screening.thresholds(1500.0, fitted.risk) == fitted.trust.screening.thresholds(
        1500.0, fitted.risk
    )
    assert registry.load("rf", saved.version, n_jobs=1).estimator_.n_jobs == 1  # the cluster's one thread
    assert loaded.estimator_.n_jobs == -1  # the saved setting, for everyone else


def test_a_bundle_without_trust_loads_and_scores_ppb_only(registry, small_model, demo_table):
    saved = registry.save(small_model, {})
    assert not (saved.path / TRUST_FILE).exists()
    loaded = registry.load("rf", saved.version)
    assert loaded.trust is None and set(loaded.predict_with_trust(demo_table.X[:2])) == {"ppb"}


def test_modeling_imports_nothing_from_services():
    """modeling/ sits below services/: the role checks are its callers' (cli, the Train page, governance)."""
    sources = (ROOT / "don_predictor" / "modeling").rglob("*.py")
    offenders = [path.name for path in sources if "don_predictor.services" in path.read_text()]
    assert offenders == []

"""Every backend is a scikit-learn regressor: scikit-learn's own estimator checks, clone and get/set_params, fit with
only X and y, and band names from a DataFrame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from don_predictor.modeling.backends import make_backend

# Checks that fail for a stated reason (anything else failing fails the test): SNV's own, for the backends that
# cannot work around a flat row.
SNV = {
    "check_estimators_dtypes": "integer X of 0..2 has flat rows and SNV divides by each row's SD (NaN): spectra.py "
    "refuses flat spectra before they reach a model",
    "check_fit2d_1feature": "SNV (the default preprocessing) needs at least two bands",
}


def expected_failures(estimator) -> dict[str, str]:
    # The forest splits around NaN bands, so SNV's flat-row NaN does not stop it; PLS and the network fail.
    return {} if estimator.name == "rf" else SNV


@parametrize_with_checks(
    [make_backend("rf", n_estimators=10), make_backend("pls")], expected_failed_checks=expected_failures
)
def test_rf_and_pls_pass_scikit_learns_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.slow  # about two minutes: 50 checks fit a small network each
@parametrize_with_checks([make_backend("tf", epochs=3, ensemble_size=2)], expected_failed_checks=expected_failures)
def test_the_network_passes_scikit_learns_estimator_checks(estimator, check):
    check(estimator)


def test_clone_and_params_keep_the_settings_dict():
    model = make_backend("rf", n_estimators=7, max_features=0.5)
    twin = clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
    assert model.get_params()["n_estimators"] == 7 and model.get_params()["max_features"] == 0.5
    assert twin.set_params(min_samples_leaf=3).get_params()["min_samples_leaf"] == 3
    assert model.get_params()["min_samples_leaf"] == 1  # the clone's settings are its own
    with pytest.raises(ValueError, match="has no setting epochs"):
        make_backend("rf", epochs=3)


def test_fit_needs_only_x_and_y_and_reads_band_names_from_a_frame(demo_table):
    X, y = demo_table.X[:120], demo_table.target[:120]
    plain = make_backend("rf", n_estimators=5).fit(X, y)
    assert plain.band_names == [str(i) for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=demo_table.band_names)
    named = make_backend("rf", n_estimators=5).fit(frame, y)
    assert named.band_names == demo_table.band_names
    np.testing.assert_array_equal(named.predict(frame), plain.predict(X))  # the names change nothing else
    assert named.score(frame, y) > 0.5  # R², from RegressorMixin

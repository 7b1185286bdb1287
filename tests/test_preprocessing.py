"""Target transforms and spectral preprocessing: exact round trips, fitted parts fitted on training rows only."""

from __future__ import annotations

import numpy as np
import pytest

from don_predictor.modeling.preprocessing import (
    PREPROCESSING,
    TARGET_TRANSFORMS,
    fit_target,
    forward_target,
    inverse_target,
    make_preprocessor,
)

SKEWED_PPB = np.array([0.0, 0.0, 40.0, 300.0, 500.0, 700.0, 1_200.0, 5_000.0, 40_000.0, 131_000.0])


@pytest.mark.parametrize("name", TARGET_TRANSFORMS)
def test_every_target_transform_round_trips_and_keeps_the_order(name):
    fitted = fit_target(name, SKEWED_PPB)
    z = forward_target(name, SKEWED_PPB, fitted)
    assert np.all(np.diff(z) >= 0)
    np.testing.assert_allclose(inverse_target(name, z, fitted), SKEWED_PPB, rtol=1e-9, atol=1e-6)


def test_yeo_johnson_learns_a_log_like_power_for_skewed_don_and_never_overflows():
    fitted = fit_target("yeo-johnson", SKEWED_PPB)
    assert -0.5 < fitted["target_lambda"] < 0.5  # between log (0) and sqrt (0.5) for data this skewed
    wild = inverse_target("yeo-johnson", np.array([-5.0, 1e6]), fitted)
    assert np.all(np.isfinite(wild)) and wild[0] == 0.0


def test_a_transform_that_needs_fitting_says_so():
    with pytest.raises(KeyError):
        forward_target("yeo-johnson", SKEWED_PPB)


def test_msc_reference_comes_from_the_rows_it_was_fitted_on():
    rng = np.random.default_rng(0)
    base = np.sin(np.linspace(0, 3, 50)) + 2
    X = base * rng.uniform(0.8, 1.2, (20, 1)) + rng.uniform(-0.1, 0.1, (20, 1))
    msc = make_preprocessor("msc").fit(X[:10])
    corrected = msc.transform(X[10:])
    # scatter (gain and offset) removed: every corrected spectrum is close to the training mean
    assert np.abs(corrected - X[:10].mean(axis=0)).max() < 0.05
    assert set(PREPROCESSING) >= {"snv", "msc", "sg1"}

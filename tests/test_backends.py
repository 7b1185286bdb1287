"""Each backend fits on the demo data, saves, loads in a fresh process and predicts exactly the same, never negative."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, TINY_PARAMS
from scipy.stats import spearmanr

from don_predictor.modeling.backends import backend_class, make_backend

LOAD_AND_PREDICT = """
import sys, numpy as np
from don_predictor.modeling.backends import backend_class
model = backend_class(sys.argv[1]).load(sys.argv[2])
np.save(sys.argv[4], model.predict(np.load(sys.argv[3])))
"""


@pytest.fixture(scope="module")
def split(demo_table):
    X, y = demo_table.X, demo_table.target
    return X[:400], y[:400], X[400:], y[400:]


@pytest.mark.parametrize("backend", ["rf", "tf"])
def test_fit_save_load_in_fresh_process_gives_identical_predictions(backend, split, demo_table, tmp_path):
    X_train, y_train, X_test, y_test = split
    model = make_backend(backend, **TINY_PARAMS[backend]).fit(X_train, y_train, demo_table.band_names)
    expected = model.predict(X_test)
    assert expected.shape == (len(X_test),)
    assert (expected >= 0).all()
    # It learned the demo signal: the predictions rank the held-out samples well (the mean would rank none).
    assert spearmanr(expected, y_test).statistic > 0.5

    model.save(tmp_path / "bundle")
    np.save(tmp_path / "X.npy", X_test)
    subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, backend, tmp_path / "bundle", tmp_path / "X.npy", tmp_path / "p.npy"],
        check=True,
        cwd=ROOT,
    )
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)


def test_predictions_are_never_negative_even_far_outside_the_training_data(split, demo_table):
    X_train, y_train, _, _ = split
    model = make_backend("rf", **TINY_PARAMS["rf"]).fit(X_train, y_train, demo_table.band_names)
    ramp = np.linspace(0.0, 1.0, X_train.shape[1])
    strange = np.vstack([ramp * 0.01, ramp * 5.0, X_train[0] * -1])
    assert (model.predict(strange) >= 0).all()


def test_wrong_number_of_bands_is_refused(split, demo_table):
    X_train, y_train, X_test, _ = split
    model = make_backend("rf", n_estimators=5).fit(X_train, y_train, demo_table.band_names)
    with pytest.raises(ValueError, match="X has 447 features, but RandomForestBackend is expecting 448 features"):
        model.predict(X_test[:, :447])


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="RandomForest has no setting epochs"):
        make_backend("rf", epochs=3)


def test_tensorflow_is_not_imported_until_a_tf_model_is_needed():
    code = (
        "import sys; import don_predictor.cli, don_predictor.store.registry, don_predictor.scoring.pipeline; "
        "from don_predictor.modeling.backends import backend_class; backend_class('rf'); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False False"


def test_tf_bundle_carries_its_scaling_and_target_transform(split, demo_table, tmp_path):
    X_train, y_train, X_test, _ = split
    model = make_backend("tf", epochs=3).fit(X_train, y_train, demo_table.band_names)
    model.save(tmp_path)
    loaded = backend_class("tf").load(tmp_path)
    assert loaded.fitted == model.fitted and set(loaded.fitted) == {"target_mean", "target_std"}
    # The saved network (scaling, PCA, members) scored with numpy gives Keras' numbers, to float32 rounding.
    np.testing.assert_allclose(
        loaded.member_predictions(X_test), model.member_predictions(X_test), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(loaded.predict(X_test), model.predict(X_test), rtol=1e-4)


def test_a_saved_tf_model_scores_without_tensorflow(split, demo_table, tmp_path):
    X_train, y_train, X_test, _ = split
    model = make_backend("tf", epochs=3, ensemble_size=2).fit(X_train, y_train, demo_table.band_names)
    model.save(tmp_path)
    np.save(tmp_path / "X.npy", X_test)
    code = (
        "import sys, numpy as np; from don_predictor.modeling.screened import ScreenedRegressor; "
        f"m = ScreenedRegressor.load({str(tmp_path)!r}); "
        f"p = m.predict_with_trust(np.load({str(tmp_path / 'X.npy')!r})); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules, len(p['ppb']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False", str(len(X_test))]


def test_a_tf_bundle_without_its_numpy_network_loads_with_keras(split, demo_table, tmp_path):
    """Bundles saved before network.npz existed still load, through Keras, and score the same."""
    X_train, y_train, X_test, _ = split
    model = make_backend("tf", epochs=3, ensemble_size=2).fit(X_train, y_train, demo_table.band_names)
    model.save(tmp_path)
    (tmp_path / "network.npz").unlink()
    loaded = backend_class("tf").load(tmp_path)
    assert loaded.model_.get_layer("band_scaling") is not None
    np.testing.assert_allclose(loaded.predict(X_test), model.predict(X_test), rtol=1e-4)


VARIANTS = [
    ("rf", {"n_estimators": 30, "preprocessing": "msc", "target_transform": "yeo-johnson"}),
    ("pls", {"target_transform": "cbrt"}),
    ("tf", {"epochs": 15, "architecture": "cnn", "ensemble_size": 2, "target_transform": "yeo-johnson"}),
]


@pytest.mark.parametrize(("backend", "params"), VARIANTS, ids=[b for b, _ in VARIANTS])
def test_explored_variants_fit_save_and_load(backend, params, split, demo_table, tmp_path):
    """The settings compared in docs/model_card.md are real options: they learn, save and load (MSC through skops'
    trusted types, the Yeo-Johnson lambda through backend.json)."""
    X_train, y_train, X_test, y_test = split
    model = make_backend(backend, **params).fit(X_train, y_train, demo_table.band_names)
    expected = model.predict(X_test)
    assert spearmanr(expected, y_test).statistic > 0.3
    if params.get("target_transform") == "yeo-johnson":
        assert np.isfinite(model.fitted["target_lambda"])
    model.save(tmp_path)
    np.testing.assert_array_equal(backend_class(backend).load(tmp_path).predict(X_test), expected)


def test_tf_ensemble_members_differ_and_their_spread_is_the_difficulty(split, demo_table):
    X_train, y_train, X_test, _ = split
    model = make_backend("tf", epochs=10, ensemble_size=3).fit(X_train, y_train, demo_table.band_names)
    members = model.member_predictions(X_test)
    assert members.shape == (len(X_test), 3)
    assert np.ptp(members, axis=1).min() > 0  # different initial weights: members disagree a little
    np.testing.assert_allclose(model.predict(X_test), np.square(np.clip(members.mean(axis=1), 0, None)))
    difficulty = model.difficulty(X_test)
    np.testing.assert_allclose(difficulty, members.std(axis=1) + 1.0)
    single = make_backend("tf", epochs=2, ensemble_size=1).fit(X_train, y_train, demo_table.band_names)
    assert single.difficulty(X_test) is None


def test_msc_needs_a_fitted_reference_so_the_tf_backend_refuses_it(split, demo_table):
    X_train, y_train, _, _ = split
    with pytest.raises(ValueError, match="MSC needs a fitted reference"):
        make_backend("tf", epochs=2, preprocessing="msc").fit(X_train, y_train, demo_table.band_names)

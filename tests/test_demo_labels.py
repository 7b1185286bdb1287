"""Demo models say so wherever a model is named, and the joint decision never joins a demo model with a real one
(issue 20: a new lab's real spectra were all 'outside the domain', blamed on the instrument, and BOTH sent every
lot to the lab by joining the lab's real RF with the demo TF)."""

from __future__ import annotations

import pytest
from conftest import ROOT, TINY_PARAMS
from streamlit.testing.v1 import AppTest

from don_predictor.modeling.training import train_and_register
from don_predictor.store.governance import DEMO_DATA_NAME, DEMO_MODEL_NOTE
from don_predictor.store.registry import Registry

APP = str(ROOT / "app.py")


@pytest.fixture(scope="module")
def demo_rf_real_tf(tmp_path_factory, demo_calibration, demo_table) -> Registry:
    """RF trained on the bundled demo file (a demo model), TF on a lab's own file (here the same spectra under
    another name: what makes a model a demo model is the file it was trained on)."""
    registry = Registry(tmp_path_factory.mktemp("models"))
    data = demo_calibration.read_bytes()
    for backend, name in (("rf", DEMO_DATA_NAME), ("tf", "lab_calibration.csv")):
        train_and_register(
            demo_table, backend, registry, data_bytes=data, data_name=name, params=TINY_PARAMS[backend], cv_folds=3
        )
    return registry


@pytest.fixture()
def app(demo_rf_real_tf, monkeypatch, tmp_path) -> AppTest:
    monkeypatch.setenv("DON_MODELS_DIR", str(demo_rf_real_tf.root))
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))  # Status judges the history too
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def values(elements) -> list[str]:
    return [e.value for e in elements]


def test_the_sidebar_and_the_model_page_name_the_demo_model(app):
    open_page(app, "pages/rf.py")
    assert any(DEMO_MODEL_NOTE in c for c in values(app.sidebar.caption))
    assert f"RandomForest: {DEMO_MODEL_NOTE}." in values(app.warning)
    open_page(app, "pages/tf.py")  # the real model carries no such label
    assert not any(DEMO_MODEL_NOTE in w for w in values(app.warning))


def test_status_is_not_ok_while_a_demo_model_serves(app):
    open_page(app, "pages/status.py")
    assert not app.success or "OK" not in app.success[0].value
    (warning,) = [w for w in values(app.warning) if w.startswith("**Demo models**")]
    assert "RF is a demo model" in warning and "Train both models on your calibration file" in warning


def test_real_spectra_outside_a_demo_models_domain_are_not_blamed_on_the_instrument(app, real_data):
    open_page(app, "pages/rf.py")
    app.file_uploader(key="rf_file").set_value(("dev.csv", real_data.read_bytes(), "text/csv"))
    app.run()
    assert not app.exception
    (outside,) = [w for w in values(app.warning) if "outside the calibration domain" in w]
    assert "demo model trained on synthetic spectra" in outside and "white or dark reference" not in outside


def test_both_is_the_real_model_alone_beside_a_demo_model(app, demo_upload):
    open_page(app, "pages/compare.py")
    assert f"RF: {DEMO_MODEL_NOTE}." in values(app.warning)
    app.file_uploader(key="compare_file").set_value(("up.csv", demo_upload.read_bytes(), "text/csv"))
    app.run()
    assert not app.exception
    assert any(w.startswith("**BOTH is TF alone**") for w in values(app.warning))
    (results,) = [df.value for df in app.dataframe if "both_verdict" in df.value.columns]
    assert (results["both_verdict"] == results["tf_verdict"]).all()
    assert (results["rf_verdict"] != results["tf_verdict"]).any() or results["tf_verdict"].nunique() >= 1


def test_monitoring_does_not_blame_the_instrument_for_a_demo_model(demo_rf_real_tf, real_data, tmp_path):
    from don_predictor.scoring.frame import predict_table
    from don_predictor.services import drift, monitoring
    from don_predictor.spectra.reader import read_spectra
    from don_predictor.store.history import RunInfo, record_run

    db = tmp_path / "h.sqlite"
    version = demo_rf_real_tf.active_version("rf")
    results = predict_table(read_spectra(real_data), {"rf": demo_rf_real_tf.load("rf")}, 1500.0)
    record_run(db, results, "hsi_id", RunInfo("rf", {"rf": version}, "dev.csv", "sha"))
    window = monitoring.load_window(db, demo_rf_real_tf.root, 30)
    found = drift.drift(window.frame, window.references[("rf", version)], 0.25)
    assert found.demo and found.mostly_out_of_domain  # real spectra against synthetic calibration spectra
    assert "demo model trained on synthetic spectra" in found.sentence(7)
    assert "instrument" not in found.sentence(7)


def test_an_upload_of_training_rows_is_marked_in_the_history_and_warned_about_without_measured_values(
    app, demo_calibration, tmp_path
):
    """The in-sample warning showed only under "Against the measured values": an upload of a model's own training
    spectra without their measured values got perfect-looking verdicts with no caution, and counted as drift."""
    import datetime as dt

    import pandas as pd

    from don_predictor.store.history import results_since

    spectra = pd.read_csv(demo_calibration).drop(columns=["vomitoxin_ppb"])
    open_page(app, "pages/rf.py")
    app.file_uploader(key="rf_file").set_value(("cal.csv", spectra.to_csv(index=False).encode(), "text/csv"))
    app.run()
    assert not app.exception
    assert any("were part of the RF model's training data" in w for w in values(app.warning))
    rows = results_since(tmp_path / "history.sqlite", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert len(rows) == len(spectra) and rows["in_training"].all()


def test_monitoring_draws_two_versions_trained_on_one_file_and_leaves_training_rows_out_of_live_error(
    app, demo_rf_real_tf, demo_upload, demo_calibration, tmp_path
):
    """A new lab's Monitoring stopped with StreamlitDuplicateElementId: both models trained on one file give
    identical T², Q and baseline reference charts. And its live MAE counted the models' own training rows."""
    import datetime as dt

    from don_predictor.scoring.frame import predict_table
    from don_predictor.scoring.score import training_rows
    from don_predictor.services import drift
    from don_predictor.spectra.reader import read_spectra
    from don_predictor.store.history import RunInfo, record_run, results_since

    db = tmp_path / "history.sqlite"
    models = {b: demo_rf_real_tf.load(b) for b in ("rf", "tf")}
    versions = {b: demo_rf_real_tf.active_version(b) for b in ("rf", "tf")}
    for name, path in (("up.csv", demo_upload), ("cal.csv", demo_calibration)):
        table = read_spectra(path)
        results = predict_table(table, models, 1500.0)
        flags = {f"{b}_in_training": r for b, r in training_rows(table, models).items()}
        measured = table.target if table.target is not None else None
        record_run(db, results.assign(**flags), "hsi_id", RunInfo("compare", versions, name, name), measured=measured)
    open_page(app, "pages/monitoring.py")
    assert not app.exception and any(s.value == "Live performance" for s in app.subheader)
    frame = results_since(db, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    live = drift.live_performance(frame, "W")
    assert live.empty  # the only rows with measured values are the models' own training rows

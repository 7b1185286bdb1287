"""The Streamlit app through streamlit.testing.v1.AppTest: every page, uploads, errors, training."""

from __future__ import annotations

import json
import time

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from don_predictor.registry import Registry

APP = str(ROOT / "app.py")
PAGES = [
    "pages/home.py",
    "pages/compare.py",
    "pages/rf.py",
    "pages/tf.py",
    "pages/train.py",
    "pages/history.py",
    "pages/status.py",
]
TIMEOUT = 180  # the first TF model load imports TensorFlow


@pytest.fixture()
def app_with_models(trained_registry, monkeypatch):
    monkeypatch.setenv("DON_MODELS_DIR", str(trained_registry.root))
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def open_page(at: AppTest, page: str) -> AppTest:
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def results_frame(at: AppTest):
    frames = [df.value for df in at.dataframe if "status" in df.value.columns]
    assert len(frames) == 1, "expected one results table"
    return frames[0]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(app_with_models, page):
    at = app_with_models
    at.run()
    open_page(at, page)
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", ["pages/rf.py", "pages/tf.py"])
def test_model_page_says_how_good_the_active_model_is(app_with_models, trained_registry, page):
    at = open_page(app_with_models, page)
    backend = page.split("/")[1][:2]
    manifest = trained_registry.active(backend).manifest
    r2 = manifest["cv_metrics"]["metrics"]["r2"]["mean"]
    panel = next(e for e in at.expander if e.label.startswith("How good is this model?"))
    assert f"R² {r2:.2f}" in panel.label
    assert any(f"{manifest['intervals']['coverage']:.1%} of held-out samples" in m.value for m in panel.markdown)
    assert [m.label for m in panel.metric] == ["R² (ppb)", "MAE", "median error", "ROC AUC > 1 ppm"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_any_model(tmp_path, monkeypatch, page):
    monkeypatch.setenv("DON_MODELS_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    open_page(at, page)
    if page in ("pages/rf.py", "pages/tf.py", "pages/compare.py"):
        assert any("No active" in e.value for e in at.error)


@pytest.mark.parametrize(
    "page,key,columns",
    [
        ("pages/rf.py", "rf_file", ["rf_ppb", "rf_ppm"]),
        ("pages/tf.py", "tf_file", ["tf_ppb", "tf_ppm"]),
        ("pages/compare.py", "compare_file", ["rf_ppb", "tf_ppb", "tf_minus_rf_ppb", "tf_over_rf"]),
    ],
)
def test_upload_of_the_demo_file_shows_every_row(app_with_models, demo_upload, page, key, columns):
    at = open_page(app_with_models, page)
    at.file_uploader(key=key).set_value(("demo_upload.csv", demo_upload.read_bytes(), "text/csv"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    results = results_frame(at)
    assert len(results) == 50 and (results["status"] == "ok").all()
    for column in columns:
        assert column in results.columns
    for column in (c for c in columns if c.endswith("_ppb")):
        assert results[column].notna().all()
    assert at.get("plotly_chart"), "charts are drawn"
    verdicts = [df.value for df in at.dataframe if "inconclusive" in df.value.columns]
    assert verdicts and (verdicts[0][["below", "inconclusive", "above"]].sum(axis=1) == 50).all()


def test_demo_button_on_compare(app_with_models):
    at = open_page(app_with_models, "pages/compare.py")
    at.button(key="compare_demo").click()
    at.run()
    assert len(results_frame(at)) == 50
    labels = {m.label: m.value for m in at.metric}
    assert labels["samples scored by both"] == "50"


def test_upload_with_target_shows_accuracy(app_with_models, demo_calibration):
    at = open_page(app_with_models, "pages/rf.py")
    at.file_uploader(key="rf_file").set_value(("cal.csv", demo_calibration.read_bytes(), "text/csv"))
    at.run()
    assert any("R²" in df.value.columns for df in at.dataframe)
    assert any("Against the measured values" in h.value for h in at.subheader)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "the file is empty"),
        (b"name,colour\nx,red\n", "no band columns"),
        (b"hsi_id,0,1,2\na,0.1,0.2,0.3\n", "missing '3'"),
    ],
)
def test_malformed_upload_shows_an_error_and_no_exception(app_with_models, content, message):
    at = open_page(app_with_models, "pages/compare.py")
    at.file_uploader(key="compare_file").set_value(("bad.csv", content, "text/csv"))
    at.run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_partly_bad_upload_scores_good_rows_and_lists_bad_ones(app_with_models, demo_upload):
    lines = demo_upload.read_text().splitlines()
    cells = lines[2].split(",")
    cells[5] = "n/a?"
    lines[2] = ",".join(cells)
    at = open_page(app_with_models, "pages/rf.py")
    at.file_uploader(key="rf_file").set_value(("partly.csv", ("\n".join(lines) + "\n").encode(), "text/csv"))
    at.run()
    results = results_frame(at)
    assert len(results) == 50 and (results["status"] == "ok").sum() == 49
    problems = [df.value for df in at.dataframe if "problem" in df.value.columns]
    assert problems and problems[0].iloc[0]["row"] == 2 and problems[0].iloc[0]["column"] == "4"


def test_train_page_trains_a_new_version(trained_registry, demo_calibration, monkeypatch, tmp_path):
    registry = Registry(tmp_path)
    monkeypatch.setenv("DON_MODELS_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    open_page(at, "pages/train.py")
    small = "\n".join(demo_calibration.read_text().splitlines()[:121]) + "\n"
    at.file_uploader(key="train_file").set_value(("cal.csv", small.encode(), "text/csv"))
    at.run()
    at.multiselect[0].set_value(["rf"])
    at.number_input[0].set_value(20)  # trees
    at.number_input[2].set_value(0)  # no CV: the fastest run
    next(s for s in at.selectbox if s.label == "Target transform").set_value("cbrt")
    next(s for s in at.select_slider if s.label == "RF features per split").set_value(0.5)
    submit = next(b for b in at.button if b.label == "Train")
    submit.click()
    at.run()
    deadline = time.time() + 120
    while not registry.versions("rf") and time.time() < deadline:
        time.sleep(0.5)
    assert len(registry.versions("rf")) == 1
    assert registry.active_version("rf") is None  # saved, not activated until the user says so
    params = json.loads((registry.versions("rf")[0].path / "backend.json").read_text())["params"]
    assert (params["n_estimators"], params["max_features"], params["target_transform"]) == (20, 0.5, "cbrt")
    time.sleep(1.0)
    at.run()
    at.run()
    assert not at.exception
    activate = [b for b in at.button if b.label.startswith("Activate RF")]
    assert activate, [b.label for b in at.button]
    activate[0].click()
    at.run()
    assert registry.active_version("rf") == registry.versions("rf")[0].version


def test_a_prediction_on_a_page_is_recorded_once_with_every_row(app_with_models, demo_upload, monkeypatch, tmp_path):
    from don_predictor.history import list_runs, run_rows

    db = tmp_path / "history.sqlite"
    monkeypatch.setenv("DON_HISTORY_DB", str(db))
    at = open_page(app_with_models, "pages/compare.py")
    at.file_uploader(key="compare_file").set_value(("demo_upload.csv", demo_upload.read_bytes(), "text/csv"))
    at.run()
    at.run()  # a rerun (any click) must not record the same run again
    runs = list_runs(db)
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["source"] == "compare" and run["backends"] == "rf,tf" and run["rows_read"] == 50
    rows = run_rows(db, run["run_id"])
    assert rows["sample_id"].tolist() == results_frame(at)["hsi_id"].tolist()
    assert rows["rf_ppb"].notna().all() and rows["tf_verdict"].notna().all()

    at = open_page(at, "pages/history.py")
    assert not at.exception and any("run_id" in df.value.columns for df in at.dataframe)

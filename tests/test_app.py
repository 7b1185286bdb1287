"""The Streamlit app through streamlit.testing.v1.AppTest: every page, uploads, errors, training."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from conftest import ROOT, as_read
from streamlit.testing.v1 import AppTest

from don_predictor.modeling.quality import headline, screening_at
from don_predictor.store.registry import Registry


def read(element) -> str:
    return as_read(element.value)


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


TITLES = {
    "pages/home.py": "DON Predictor",
    "pages/compare.py": "Compare RandomForest and TensorFlow",
    "pages/rf.py": "RandomForest predictions",
    "pages/tf.py": "TensorFlow predictions",
    "pages/train.py": "Train new model versions",
    "pages/history.py": "Prediction history",
    "pages/status.py": "Status",
}
UPLOADS = {
    "pages/compare.py": "compare_file",
    "pages/rf.py": "rf_file",
    "pages/tf.py": "tf_file",
    "pages/train.py": "train_file",
}


def texts(elements) -> list[str]:
    return [e.value for e in elements]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_inside_the_frame_with_the_active_models(app_with_models, trained_registry, page):
    at = app_with_models
    at.run()
    open_page(at, page)
    assert not at.error, [e.value for e in at.error]
    assert texts(at.title) == [TITLES[page]]
    active = {b: trained_registry.active_version(b) for b in ("rf", "tf")}
    sidebar = " ".join(texts(at.sidebar.caption))
    assert all(f"**{b.upper()}** `{v}`" in sidebar for b, v in active.items()), sidebar  # the frame around the page
    if page in UPLOADS:
        assert at.file_uploader(key=UPLOADS[page]).value is None  # the drop zone, waiting for a file
    if page in ("pages/rf.py", "pages/tf.py"):
        backend = page[6:8]
        assert any(f"version `{active[backend]}`" in c for c in texts(at.caption))
    if page == "pages/compare.py":
        assert f"RF `{active['rf']}` · TF `{active['tf']}`" in texts(at.caption)
    if page == "pages/home.py":
        (table,) = [df.value for df in at.dataframe if "version" in df.value.columns]
        assert table["version"].tolist() == [active["rf"], active["tf"]]
    if page == "pages/status.py":
        (models,) = [df.value for df in at.dataframe if "active version" in df.value.columns]
        assert models["active version"].tolist() == [active["rf"], active["tf"]]
        assert models["checksums"].tolist() == ["verified", "verified"]


@pytest.mark.parametrize("page", ["pages/rf.py", "pages/tf.py"])
def test_model_page_says_how_good_the_active_model_is(app_with_models, trained_registry, page):
    at = open_page(app_with_models, page)
    backend = page.split("/")[1][:2]
    manifest = trained_registry.active(backend).manifest
    figures = screening_at(manifest["cv_metrics"], 1500)
    panel = next(e for e in at.expander if e.label.startswith("How good is this model?"))
    # It leads with what the model decides at the default limit, at its risk; R² in ppb comes last.
    assert panel.label == f"How good is this model? It {headline(manifest['cv_metrics'], 1500)}"
    assert panel.label.index(f"decides {figures['decided']:.0%} of samples at 1,500 ppb") < panel.label.index("R²")
    assert any(f"{manifest['intervals']['coverage']:.1%} of held-out samples" in m.value for m in panel.markdown)
    assert [m.label for m in panel.metric] == [
        "decided at 1,500 ppb",
        "cleared (below)",
        "truly above cleared",
        "MAE",
        "median error",
        "ROC AUC > 1,500 ppb",
        "R² (ppb)",
    ]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_any_model(tmp_path, monkeypatch, page):
    monkeypatch.setenv("DON_MODELS_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    open_page(at, page)
    assert texts(at.title) == [TITLES[page]]
    sidebar = " ".join(texts(at.sidebar.caption))
    assert "No active RF model yet" in sidebar and "No active TF model yet" in sidebar
    if page in ("pages/rf.py", "pages/tf.py", "pages/compare.py"):  # nothing to score with: said, no drop zone
        assert any("No active" in e for e in texts(at.error)) and not at.get("file_uploader")
    elif page == "pages/home.py":
        assert any("No active RF model yet" in w for w in texts(at.warning))
    elif page == "pages/train.py":  # training is how the first models come
        assert at.file_uploader(key="train_file").value is None and not at.error
    elif page == "pages/status.py":
        (degraded,) = texts(at.error)
        assert degraded.startswith("**DEGRADED**") and "no active rf model" in degraded and "no active tf" in degraded
    else:
        assert not at.error, texts(at.error)


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
    # The page leads with the verdicts against the chosen limit (the EU maize limit by default).
    assert at.subheader[0].value.startswith("Verdicts against 1,500 ppb")
    if page == "pages/compare.py":
        verdicts = [df.value for df in at.dataframe if "send_to_lab" in df.value.columns]
        assert verdicts and (verdicts[0][["below", "send_to_lab", "above"]].sum(axis=1) == 50).all()
        assert verdicts[0]["model"].tolist() == ["BOTH", "RF", "TF"]  # the joint decision first
        outside = verdicts[0].set_index("model")["of which outside the domain"]
        assert outside["BOTH"] >= max(outside["RF"], outside["TF"])
        rf, tf, both = results["rf_verdict"], results["tf_verdict"], results["both_verdict"]
        assert ((both == "below") == ((rf == "below") & (tf == "below"))).all()
        assert ((both == "above") == ((rf == "above") & (tf == "above"))).all()
    else:
        counts = {m.label: int(m.value) for m in at.metric if m.label in ("below", "send to lab", "above")}
        assert len(counts) == 3 and sum(counts.values()) == 50
        # Even 50 rows is more than the table shows at once: a filter finds the samples to act on.
        backend = page.removeprefix("pages/").removesuffix(".py")
        at.radio(key=f"{backend}_table_filter").set_value("not cleared")
        at.run()
        not_cleared = results_frame(at)
        assert len(not_cleared) == counts["send to lab"] + counts["above"]
        assert (not_cleared[f"{backend}_verdict"] != "below").all()
    assert any("Intervals and verdicts" in c.value for c in at.caption)


def test_demo_button_on_compare(app_with_models):
    from don_predictor.ui import score_cache

    score_cache.SCORE_CACHE.clear()  # another test may have scored the demo file with these versions already
    at = open_page(app_with_models, "pages/compare.py")
    at.button(key="compare_demo").click()
    at.run()
    results = results_frame(at)
    assert len(results) == 50
    labels = {m.label: m.value for m in at.metric}
    # Agreement counts only the samples both models trust (in both calibration domains).
    both_trust = (results["rf_in_domain"] == True) & (results["tf_in_domain"] == True)  # noqa: E712 (NA is not trusted)
    assert labels["samples both models trust"] == str(int(both_trust.sum()))
    assert any(c.value.startswith("Scored by both models in") for c in at.caption)
    at.run()  # a rerun reuses the scores, and says so rather than a scoring time of a few ms
    assert any("from this upload's earlier run" in c.value for c in at.caption)
    assert not any(c.value.startswith("Scored by both models in") for c in at.caption)


def test_upload_with_target_shows_accuracy(app_with_models, demo_calibration):
    at = open_page(app_with_models, "pages/rf.py")
    at.file_uploader(key="rf_file").set_value(("cal.csv", demo_calibration.read_bytes(), "text/csv"))
    at.run()
    assert any("R²" in df.value.columns for df in at.dataframe)
    assert any("Against the measured values" in h.value for h in at.subheader)
    # The calibration file is the model's own training data: the figures are in-sample, and the page says so.
    assert any("were part of the RF model's training data" in w.value for w in at.warning)
    assert any("Its cross-validated figures" in w.value for w in at.warning)


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


def start_training_on_page(at: AppTest, data: bytes, backends: list[str], *, cv_repeats: int, trees: int = 20) -> None:
    open_page(at, "pages/train.py")
    at.file_uploader(key="train_file").set_value(("cal.csv", data, "text/csv"))
    at.run()
    widget(at.multiselect, "Models").set_value(backends)
    widget(at.number_input, "RF trees").set_value(trees)
    widget(at.number_input, "TF max epochs").set_value(8)
    widget(at.number_input, "CV repeats (5 folds)").set_value(cv_repeats)
    widget(at.number_input, "TF ensemble members").set_value(2)
    next(b for b in at.button if b.label == "Train").click()
    at.run()


def widget(widgets, label: str):
    """The one widget with this label (not the n-th of its kind: a new field before it must not shift the test)."""
    (found,) = [w for w in widgets if w.label == label]
    return found


def wait_for_job(at: AppTest, timeout: float = 300) -> None:
    """Join the training job's thread (jobs.start_job names it job-<title>), then show its end on the page."""
    import threading

    from don_predictor.services.jobs import latest_job

    job = latest_job()
    for thread in threading.enumerate():
        if thread.name == f"job-{job.title}":
            thread.join(timeout)
    assert not job.running, "the training job did not end in time"
    at.run()
    at.run()  # the progress fragment asks for one full rerun to show the result
    assert not at.exception, [e.message for e in at.exception]


def small_calibration(demo_calibration) -> bytes:
    return ("\n".join(demo_calibration.read_text().splitlines()[:121]) + "\n").encode()


def test_train_page_trains_a_new_version(trained_registry, demo_calibration, monkeypatch, tmp_path):
    registry = Registry(tmp_path)
    monkeypatch.setenv("DON_MODELS_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    open_page(at, "pages/train.py")
    at.file_uploader(key="train_file").set_value(("cal.csv", small_calibration(demo_calibration), "text/csv"))
    at.run()
    widget(at.multiselect, "Models").set_value(["rf"])
    widget(at.number_input, "RF trees").set_value(20)
    widget(at.number_input, "CV repeats (5 folds)").set_value(0)  # no CV: the fastest run
    widget(at.selectbox, "Target transform").set_value("cbrt")
    widget(at.select_slider, "RF features per split").set_value(0.5)
    next(b for b in at.button if b.label == "Train").click()
    at.run()
    wait_for_job(at)
    assert len(registry.versions("rf")) == 1
    assert registry.active_version("rf") is None  # saved, not activated until the user says so
    version = registry.versions("rf")[0].version
    params = json.loads((registry.versions("rf")[0].path / "backend.json").read_text())["params"]
    assert (params["n_estimators"], params["max_features"], params["target_transform"]) == (20, 0.5, "cbrt")
    # Without CV nothing shows how good it is: activation is refused unless overridden with a reason.
    assert any("trained without cross-validation" in read(w) for w in at.warning)
    activate = next(b for b in at.button if b.label == f"Activate RF {version}")
    assert activate.disabled
    at.checkbox(key=f"override_new_{version}").check()
    at.run()
    at.text_input(key=f"reason_new_{version}").set_value("smoke test of the new instrument")
    at.run()
    next(b for b in at.button if b.label == f"Activate RF {version}").click()
    at.run()
    assert registry.active_version("rf") == version

    from don_predictor.config import settings
    from don_predictor.store.audit import list_audit

    override = list_audit(settings().history_db).query("action == 'activation_override'").iloc[0]
    assert version in override["detail"] and "smoke test of the new instrument" in override["detail"]
    saved = list_audit(settings().history_db).query("action == 'save'")  # the save itself is audited too
    assert any(version in detail and "cal.csv" in detail for detail in saved["detail"])


def test_train_page_trains_tf_in_a_process_that_already_scored_with_tf(app_with_models, demo_upload, demo_calibration):
    """Regression: TF training from the page failed with 'The name "dense" is used 2 times in the model'."""
    registry = Registry(os.environ["DON_MODELS_DIR"])
    at = open_page(app_with_models, "pages/tf.py")
    at.file_uploader(key="tf_file").set_value(("demo_upload.csv", demo_upload.read_bytes(), "text/csv"))
    at.run()
    assert len(results_frame(at)) == 50  # TF loaded and scored in this process
    before = {v.version for v in registry.versions("tf")}
    start_training_on_page(at, small_calibration(demo_calibration), ["tf"], cv_repeats=1)
    wait_for_job(at)
    assert not any("failed" in e.value for e in at.error), [e.value for e in at.error]
    new = [v for v in registry.versions("tf") if v.version not in before]
    assert len(new) == 1 and new[0].cv_metrics["metrics"]["r2"]["mean"] is not None
    assert any(b.label == f"Activate TF {new[0].version}" for b in at.button)
    registry.verify(new[0])
    from don_predictor.spectra.reader import read_spectra

    upload = read_spectra(demo_upload)
    assert registry.load("tf", new[0].version).predict(upload.X).shape == (upload.n_rows,)


def test_one_job_trains_both_backends_and_a_failure_of_one_is_reported(app_with_models, demo_calibration, monkeypatch):
    import don_predictor.ui.training_panels as panels

    registry = Registry(os.environ["DON_MODELS_DIR"])
    before = {b: {v.version for v in registry.versions(b)} for b in ("rf", "tf")}
    at = app_with_models
    at.run()
    start_training_on_page(at, small_calibration(demo_calibration), ["rf", "tf"], cv_repeats=1)
    wait_for_job(at)
    for backend in ("rf", "tf"):
        new = [v for v in registry.versions(backend) if v.version not in before[backend]]
        assert len(new) == 1, backend
        assert new[0].cv_metrics["folds"] == 5 and "r2" in new[0].cv_metrics["metrics"]
        assert any(b.label == f"Activate {backend.upper()} {new[0].version}" for b in at.button)
    assert any("Saved RF" in s.value and "TF" in s.value for s in at.success)

    # One backend failing: the other is saved and the page says which failed and why.
    real = panels.train_and_register

    def tf_breaks(table, backend, *args, **kwargs):
        if backend == "tf":
            raise RuntimeError("simulated TF failure")
        return real(table, backend, *args, **kwargs)

    monkeypatch.setattr(panels, "train_and_register", tf_breaks)
    at.button(key="dismiss_job").click()
    at.run()
    start_training_on_page(at, small_calibration(demo_calibration), ["rf", "tf"], cv_repeats=0)
    wait_for_job(at)
    assert any("TF failed and was not saved: RuntimeError: simulated TF failure" in read(e) for e in at.error)
    assert any(s.value.startswith("Saved RF") for s in at.success)


def test_too_few_usable_rows_are_refused_on_the_page_before_any_job(app_with_models, demo_calibration):
    from don_predictor.services.jobs import latest_job

    before = latest_job()
    few = ("\n".join(demo_calibration.read_text().splitlines()[:6]) + "\n").encode()  # 5 rows
    at = app_with_models
    at.run()
    start_training_on_page(at, few, ["rf"], cv_repeats=0)
    assert any("only 5 rows" in e.value and "at least 10" in e.value for e in at.error), [e.value for e in at.error]
    assert latest_job() is before  # nothing started


def test_the_progress_bar_gives_each_backend_its_share_of_time(app_with_models, demo_calibration, monkeypatch):
    import threading

    import don_predictor.ui.training_panels as panels
    from don_predictor.services.jobs import latest_job

    release, halfway = threading.Event(), threading.Event()

    def fake_training(table, backend, registry, *, progress, **kwargs):
        progress(1.0 if backend == "rf" else 0.5, "fitting")
        if backend == "tf":
            halfway.set()
            release.wait(timeout=120)
        raise RuntimeError("stopped by the test")

    monkeypatch.setattr(panels, "train_and_register", fake_training)
    at = app_with_models
    at.run()
    start_training_on_page(at, small_calibration(demo_calibration), ["rf", "tf"], cv_repeats=1)
    try:
        assert halfway.wait(timeout=60)
        job = latest_job()
        # RF done is two thirds of the bar (TF trains in about half RF's time); TF halfway adds a sixth.
        rf_share = panels.TRAINING_WEIGHT["rf"] / (panels.TRAINING_WEIGHT["rf"] + panels.TRAINING_WEIGHT["tf"])
        assert rf_share == pytest.approx(2 / 3)
        assert job.fraction == pytest.approx(rf_share + 0.5 * (1 - rf_share)) and job.message == "TF fitting"
    finally:
        release.set()
    wait_for_job(at)


def test_a_running_job_stays_on_the_page_and_shows_on_the_status_page(app_with_models, demo_calibration, monkeypatch):
    import threading

    import don_predictor.ui.training_panels as panels

    release = threading.Event()

    def slow_training(table, backend, registry, *, progress, **kwargs):
        progress(0.25, "cross-validation: fold 2 of 5: 150/300 trees")
        release.wait(timeout=120)  # held until the test has looked at the pages
        raise RuntimeError("stopped by the test")

    monkeypatch.setattr(panels, "train_and_register", slow_training)
    at = app_with_models
    at.run()
    start_training_on_page(at, small_calibration(demo_calibration), ["rf"], cv_repeats=1)
    try:
        open_page(at, "pages/home.py")
        at = open_page(at, "pages/train.py")  # back: the upload widget is empty again, the job is not forgotten
        assert any("Training RF on cal.csv (120 rows)" in read(m) for m in at.markdown)
        assert not any("Drop a calibration CSV" in i.value for i in at.info)
        at = open_page(at, "pages/status.py")
        running = [read(i) for i in at.info if "Running:" in i.value]
        assert running and "RF on cal.csv" in running[0] and "fold 2 of 5" in running[0], running
        # Another user's session sees the running training and cannot start one, before uploading anything.
        other = open_page(AppTest.from_file(APP, default_timeout=TIMEOUT), "pages/train.py")
        assert any("was started" in i.value and "in another session" in i.value for i in other.info)
        assert not any("Drop a calibration CSV" in i.value for i in other.info)
        assert next(b for b in other.button if b.label == "Train").disabled
    finally:
        release.set()
    wait_for_job(at)
    at = open_page(at, "pages/train.py")
    assert any("failed" in read(e) and "stopped by the test" in read(e) for e in at.error)
    at.button(key="dismiss_job").click()
    at.run()
    assert not any("stopped by the test" in e.value for e in at.error)  # a read failure goes away


def test_a_prediction_on_a_page_is_recorded_once_with_every_row(app_with_models, demo_upload, monkeypatch, tmp_path):
    from don_predictor.store.history import list_runs, run_rows

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

    at = open_page(at, "pages/history.py")  # the run is listed, and its rows shown as scored
    (listed,) = [df.value for df in at.dataframe if "run_id" in df.value.columns]
    assert listed["run_id"].tolist() == [run["run_id"]] and listed["file_name"].tolist() == ["demo_upload.csv"]
    assert list(listed.columns[:2]) == ["created_utc", "file_name"]  # when and which file first, the id last
    assert listed["model_versions"].iloc[0].startswith("RF ") and ", TF " in listed["model_versions"].iloc[0]
    # The limit as a reader knows it, with its regulation, not its key.
    assert listed["limit_key"].tolist() == ["1,500 ppb (1.5 ppm) · EU: unprocessed durum wheat and maize"]
    assert listed["user"].tolist() == ["—"]  # no login here: a dash, not None
    (shown,) = [df.value for df in at.dataframe if "sample_id" in df.value.columns]
    assert shown["sample_id"].tolist() == rows["sample_id"].tolist()


def test_lots_lead_the_page_and_a_typed_limit_recalibrates(app_with_models, demo_upload):
    upload = pd.read_csv(demo_upload)
    lot = pd.DataFrame({"lot": ["" if i == 1 else f"L{i // 10}" for i in range(len(upload))]})
    data = pd.concat([upload.iloc[:, :1], lot, upload.iloc[:, 1:]], axis=1).to_csv(index=False).encode()
    at = open_page(app_with_models, "pages/rf.py")
    at.file_uploader(key="rf_file").set_value(("lots.csv", data, "text/csv"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    lots = [df.value for df in at.dataframe if "RF lot verdict" in df.value.columns]
    assert lots and lots[0]["lot"].tolist() == [f"L{i}" for i in range(5)]
    assert set(lots[0]["RF lot verdict"]) <= {"below", "send_to_lab", "above"}
    assert lots[0]["samples"].sum() == len(upload) - 1
    assert any(m.value.startswith("**Lots** · 5 lots: ") for m in at.markdown)
    assert any(w.value.startswith("1 row has an empty lot cell") for w in at.warning)
    # A limit of the user's own: the demo calibration holds too few samples above 60,000 ppb to clear any.
    at.number_input(key="rf_custom_limit_ppb").set_value(60000)
    at.run()
    assert at.subheader[0].value.startswith("Verdicts against 60,000 ppb")
    assert any("no sample can be cleared below 60,000 ppb" in w.value for w in at.warning)
    assert (results_frame(at)["rf_verdict"] != "below").all()


def test_a_long_upload_pages_its_table_and_draws_aggregate_charts(app_with_models, demo_upload):
    from don_predictor.spectra.demo import demo_frame
    from don_predictor.ui.results import PAGE_ROWS

    rows = 2 * PAGE_ROWS + 120
    data = demo_frame(rows, seed=7, id_prefix="big", with_target=False).to_csv(index=False).encode()
    at = open_page(app_with_models, "pages/compare.py")
    at.file_uploader(key="compare_file").set_value(("big.csv", data, "text/csv"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = results_frame(at)
    assert len(shown) == PAGE_ROWS and shown["hsi_id"].iloc[0] == "big_0000"
    assert any(f"Rows 1–{PAGE_ROWS:,} of {rows:,} (all rows" in c.value for c in at.caption)

    at.number_input(key="rf_tf_table_page").set_value(3)
    at.run()
    last_page = results_frame(at)
    assert last_page["hsi_id"].tolist() == [f"big_{i:04d}" for i in range(2 * PAGE_ROWS, rows)]

    at.radio(key="rf_tf_table_filter").set_value("not cleared")
    at.number_input(key="rf_tf_table_page").set_value(1)
    at.run()
    not_cleared = results_frame(at)
    assert (
        len(not_cleared) and not ((not_cleared["rf_verdict"] == "below") & (not_cleared["tf_verdict"] == "below")).any()
    )
    # Over a thousand samples: the interval chart is the sorted band, not one error bar per sample.
    from don_predictor.plots import CURVE_POINTS

    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    band = next(c for c in charts if "share of samples" in str(c["layout"].get("xaxis", {}).get("title")))
    curves = [trace for trace in band["data"] if trace.get("name") in ("rf", "tf")]
    assert len(curves) == 2 and all(n_points(trace["y"]) == CURVE_POINTS for trace in curves)
    # The sample picker is a row number, not a drop-down of a thousand options.
    assert any(n.label.startswith("Sample (row number") for n in at.number_input)


def n_points(values) -> int:
    """Points in a Plotly JSON array: a list, or a typed array ({"dtype", "bdata"}: base64 bytes)."""
    if isinstance(values, dict):
        import base64

        import numpy as np

        return len(base64.b64decode(values["bdata"])) // np.dtype(values["dtype"]).itemsize
    return len(values)

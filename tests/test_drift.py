"""Drift monitoring: PSI itself, a real tiny RF model scoring its own kind of spectra (no drift) and shifted ones
(drift, with the plain sentence), live error and coverage from uploads with measured values, the Monitoring page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from streamlit.testing.v1 import AppTest

from don_predictor import plots
from don_predictor.scoring.frame import predict_table
from don_predictor.scoring.frame_views import trusted_rows
from don_predictor.services import drift, monitoring
from don_predictor.spectra.reader import read_spectra
from don_predictor.store.history import RunInfo, record_run, results_since


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shifted_one():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=2000)
    assert drift.psi_against_sample(reference, rng.normal(size=500)) < 0.05
    assert drift.psi_against_sample(reference, rng.normal(0.8, 1, size=500)) > 0.25
    assert drift.psi_against_distribution(stats.norm(), rng.normal(size=500)) < 0.05
    assert drift.psi_against_distribution(stats.norm(), rng.normal(0, 2, size=500)) > 0.25


@pytest.fixture(scope="module")
def rf_models(trained_registry):
    return trained_registry  # tiny RF and TF versions trained on the demo data, shared with the other test files


def _score(registry, table, X=None):
    model = registry.load("rf")
    if X is not None:
        table = table.__class__(**{**table.__dict__, "X": X})
    return predict_table(table, {"rf": model}, 1500.0)


def test_spectra_like_the_calibration_data_do_not_drift_shifted_ones_do(rf_models, demo_upload, tmp_path):
    db = tmp_path / "h.sqlite"
    version = rf_models.active_version("rf")
    upload = read_spectra(demo_upload.read_bytes())

    def info(n: int) -> RunInfo:  # each run a different file (a file scored twice counts once in the window)
        return RunInfo("compare", {"rf": version}, f"up{n}.csv", f"sha{n}")

    for n in range(2):  # 100 rows: enough for a score
        record_run(db, _score(rf_models, upload), "hsi_id", info(n))
    window = monitoring.load_window(db, rf_models.root, 30)
    (found,) = [f for f in monitoring.drifts(window, 0.25) if f.backend == "rf"]
    assert [f.score for f in monitoring.drifts(window, 0.25) if f.backend == "tf"] == [None]  # it scored nothing
    assert found.score is not None and not found.exceeded, found.parts
    assert "look like the calibration data" in found.sentence(7)

    shifted = np.asarray(upload.X) + 0.05  # a reflectance offset: an instrument whose reference drifted
    for n in range(2, 4):
        record_run(db, _score(rf_models, upload, shifted), "hsi_id", info(n))
    window = monitoring.load_window(db, rf_models.root, 30)
    recent = window.frame[window.frame["created_at"] >= window.frame["created_at"].sort_values().iloc[100]]
    found = drift.drift(recent, window.references[("rf", version)], 0.25)
    assert found.exceeded and found.parts["baseline"] > 1, found.parts
    assert "differ from the calibration data" in found.sentence(7) and "recalibrate" in found.sentence(7)
    table = drift.by_period(window.frame, "D")
    assert table["rows"].sum() == 200 and 0 <= table["out_of_domain"].iloc[0] <= 1


def test_live_error_and_coverage_from_uploads_with_measured_values(rf_models, demo_table, tmp_path):
    db = tmp_path / "h.sqlite"
    results = _score(rf_models, demo_table)
    results["vomitoxin_ppb"] = demo_table.target
    record_run(db, results, "hsi_id", RunInfo("compare", {"rf": rf_models.active_version("rf")}, "cal.csv", "x"))
    live = drift.live_performance(results_since(db, datetime.now(UTC) - timedelta(days=1)), "W")
    trusted = trusted_rows(results, "rf")  # live figures come from trusted rows only; the others are counted
    assert live["rows"].tolist() == [int(trusted.sum())]
    assert live["not_trusted"].tolist() == [len(demo_table.target) - int(trusted.sum())]
    expected = np.mean(np.abs(results["rf_ppb"] - demo_table.target)[trusted])
    assert live["mae_ppb"].iloc[0] == pytest.approx(expected)
    assert 0.5 < live["coverage"].iloc[0] <= 1.0
    cv = monitoring.cv_reference(rf_models.root, "rf", rf_models.active_version("rf"))
    assert cv["mae_ppb"] > 0 and 0 < cv["coverage"] <= 1


def test_the_monitoring_page_says_whether_the_spectra_drift(rf_models, demo_upload, tmp_path, monkeypatch):
    db = tmp_path / "h.sqlite"
    monkeypatch.setenv("DON_HISTORY_DB", str(db))
    monkeypatch.setenv("DON_MODELS_DIR", str(rf_models.root))
    upload = read_spectra(demo_upload.read_bytes())
    info = RunInfo("compare", {"rf": rf_models.active_version("rf")}, "up.csv", "x")
    for _ in range(2):
        record_run(db, _score(rf_models, upload, np.asarray(upload.X) + 0.05), "hsi_id", info)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.switch_page("pages/monitoring.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("differ from the calibration data" in e.value for e in at.error)
    assert len(at.get("plotly_chart")) >= 5


def test_an_upload_with_measured_values_on_a_page_gives_the_live_performance(
    rf_models, demo_calibration, tmp_path, monkeypatch
):
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "h.sqlite"))
    monkeypatch.setenv("DON_MODELS_DIR", str(rf_models.root))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=180)
    at.switch_page("pages/rf.py")
    at.run()
    # New scans of the calibration samples (the spectra a hair off): the model's own training rows, as they were,
    # are left out of the live error (in-sample, they flatter it).
    scans = pd.read_csv(demo_calibration)
    bands = [c for c in scans.columns if c not in ("hsi_id", "vomitoxin_ppb")]
    scans[bands] = scans[bands] * (1 + 1e-6)
    at.file_uploader(key="rf_file").set_value(("scans.csv", scans.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    rows = results_since(tmp_path / "h.sqlite", datetime.now(UTC) - timedelta(hours=1))
    assert not rows["in_training"].any()
    assert rows["measured_ppb"].notna().sum() > 400  # the upload's vomitoxin_ppb went into the history
    at.switch_page("pages/monitoring.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    (live,) = [df.value for df in at.dataframe if "MAE (ppb)" in df.value.columns]
    assert live["model"].tolist() == ["RF"] and live["interval coverage (%)"].iloc[0] > 50


def test_live_performance_without_intervals_has_no_coverage(tmp_path):
    db = tmp_path / "h.sqlite"
    frame = pd.DataFrame(
        {"hsi_id": ["a", "b"], "status": ["ok", "ok"], "rf_ppb": [100.0, 2000.0], "vomitoxin_ppb": [90.0, 2100.0]}
    )
    record_run(db, frame, "hsi_id", RunInfo("compare", {"rf": "v1"}, "x.csv", "abc"))
    live = drift.live_performance(results_since(db, datetime.now(UTC) - timedelta(days=1)), "D")
    assert live["mae_ppb"].tolist() == [55.0] and live["coverage"].isna().all()


def test_monitoring_charts_draw_one_full_bar_per_period_in_every_panel():
    table = pd.DataFrame(
        {
            "period": pd.to_datetime(["2026-11-28", "2026-11-28"]),
            "backend": ["rf", "tf"],
            "rows": [120, 120],
            "out_of_domain": [0.02, 1.0],
            "below": [0.5, 0.0],
            "send_to_lab": [0.4, 1.0],
            "above": [0.1, 0.0],
        }
    )
    verdicts = plots.verdict_chart(table)
    assert {a.text for a in verdicts.layout.annotations} == {"RF", "TF"}
    axes = [verdicts.layout[name] for name in verdicts.layout if name.startswith("yaxis")]
    assert len(axes) == 2 and all(axis.tickformat == ".0%" for axis in axes)  # the second panel too
    assert all(verdicts.layout[n].type == "category" for n in verdicts.layout if n.startswith("xaxis"))
    assert {x for trace in verdicts.data for x in trace.x} == {"2026-11-28"}
    share = plots.share_chart(table, "out_of_domain", "out of domain")
    assert share.layout.xaxis.type == "category" and list(share.layout.yaxis.range) == [0, 1.05]
    # A day only one model had, listed after the other days: the axis still runs in date order.
    later = pd.concat([table, table.iloc[[1]].assign(period=pd.Timestamp("2026-11-27"))], ignore_index=True)
    for figure in (plots.verdict_chart(later), plots.share_chart(later, "out_of_domain", "")):
        axes = [figure.layout[n] for n in figure.layout if n.startswith("xaxis")]
        assert all(axis.categoryorder == "category ascending" for axis in axes)
        assert sorted({x for trace in figure.data for x in trace.x}) == ["2026-11-27", "2026-11-28"]


def test_a_models_own_training_spectra_are_not_counted_as_drift(rf_models, demo_table, tmp_path):
    """A new user's Monitoring raised a drift alarm for 60 spectra that were the model's own calibration rows: the
    app marks them in the history (score.training_rows) and the drift leaves them out."""
    from don_predictor.scoring.score import training_rows

    db = tmp_path / "h.sqlite"
    version = rf_models.active_version("rf")
    results = _score(rf_models, demo_table)
    flags = training_rows(demo_table, {"rf": rf_models.load("rf")})["rf"]
    assert flags.all()  # the demo calibration file is this model's training data
    record_run(db, results.assign(rf_in_training=flags), "hsi_id", RunInfo("compare", {"rf": version}, "cal.csv", "a"))
    window = monitoring.load_window(db, rf_models.root, 30)
    assert window.frame.loc[window.frame["backend"] == "rf", "in_training"].all()
    found = drift.drift(window.frame, window.references[("rf", version)], 0.25)
    assert found.rows == 0 and found.score is None  # nothing new to judge
    # The same spectra from another file, not marked (e.g. an older run): counted as before.
    record_run(db, results, "hsi_id", RunInfo("compare", {"rf": version}, "other.csv", "b"))
    window = monitoring.load_window(db, rf_models.root, 30)
    assert drift.drift(window.frame, window.references[("rf", version)], 0.25).rows == len(results)

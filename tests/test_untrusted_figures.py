"""A number the app does not trust is never a headline, in figures either: the charts draw trusted predictions only or
mark the others; History's plot marks them; Monitoring's live performance leaves them out and its status warns when
most recent spectra lie outside the calibration domain (a new user's trial: 400 of 400 real spectra outside the RF
domain, shown as a green 'look like the calibration data', a live MAE of 3151 and a plot of all 400)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from don_predictor import plots
from don_predictor.scoring.frame_views import trusted_rows
from don_predictor.services import drift
from don_predictor.store.history import RunInfo, predictions_over_time, record_run, results_since

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def results_frame(n: int = 40, out_every: int = 4) -> pd.DataFrame:
    """Results of one backend: every `out_every`-th row outside the domain; row 1 not scored."""
    rng = np.random.default_rng(0)
    ppb = rng.lognormal(6.5, 1.0, n)
    ppb[1] = np.nan
    in_domain = pd.array(np.arange(n) % out_every != 0, dtype="boolean")
    verdict = np.where(ppb < 500, "below", np.where(ppb > 3000, "above", "send_to_lab")).astype(object)
    verdict[~np.asarray(in_domain, bool)] = "send_to_lab"
    verdict[1] = ""
    return pd.DataFrame(
        {
            "rf_ppb": ppb,
            "rf_low_ppb": ppb / 2,
            "rf_high_ppb": ppb * 2,
            "rf_in_domain": in_domain,
            "rf_verdict": verdict,
        }
    )


def values(array) -> np.ndarray:
    """A trace's values, also when plotly stored them as a typed array."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array, dtype=float)


# --- problem 1: the prediction pages' charts ------------------------------------------------------------------


def test_the_histogram_counts_trusted_predictions_only_and_says_how_many_it_left_out():
    results = results_frame()
    ppb = results["rf_ppb"].to_numpy()
    trusted = {"rf": trusted_rows(results, "rf")}
    figure = plots.prediction_histogram({"rf": ppb}, 1500, trusted)
    (trace,) = [t for t in figure.data if t.type == "histogram"]
    expected = np.log10(np.maximum(ppb[trusted["rf"]], plots.MIN_LOG_PPB))
    assert np.allclose(np.sort(trace.x), np.sort(expected)) and len(trace.x) == 29  # 39 scored, 10 outside
    assert "10 left out" in trace.name
    note = plots.left_out_note(39, 29)
    assert "29 trusted" in note and "10 of 39" in note
    assert plots.left_out_note(39, 39) is None
    # Nothing trusted (the dev file on the demo model): an empty histogram that says so.
    none = {"rf": np.zeros(len(ppb), bool)}
    empty = plots.prediction_histogram({"rf": ppb}, 1500, none)
    assert len(empty.data[0].x) == 0 and any("no trusted" in a.text for a in empty.layout.annotations)
    # Callers that pass no mask keep the old figure.
    assert len(plots.prediction_histogram({"rf": ppb}, 1500).data[0].x) == 39


def test_scatters_draw_untrusted_predictions_grey_hollow_and_labelled():
    results = results_frame()
    ppb = results["rf_ppb"].to_numpy()
    actual = ppb * 1.1
    mask = trusted_rows(results, "rf")
    ids = [f"s{i}" for i in range(len(ppb))]
    figure = plots.actual_vs_predicted(actual, {"rf": ppb}, ids, {"rf": mask})
    main = next(t for t in figure.data if t.name == "rf")
    grey = next(t for t in figure.data if t.name == "rf not trusted (outside the domain)")
    assert set(main.text) == {ids[i] for i in np.flatnonzero(mask)}
    assert set(grey.text) == {ids[i] for i in np.flatnonzero(~mask & np.isfinite(ppb))}
    assert grey.marker.symbol == "circle-open" and grey.marker.color == plots.VERDICT_COLORS["not_trusted"]

    both = plots.compare_scatter(ppb, ppb * 0.9, ids, mask)
    assert len(next(t for t in both.data if t.name == "samples").x) == mask.sum()
    assert len(next(t for t in both.data if t.name == "not trusted (outside the domain)").x) == 10


def test_the_interval_chart_colours_each_point_by_its_verdict():
    results = results_frame()
    n = len(results)
    ids = [f"s{i}" for i in range(n)]
    scored = {
        "ppb": results["rf_ppb"].to_numpy(),
        "low_ppb": results["rf_low_ppb"].to_numpy(),
        "high_ppb": results["rf_high_ppb"].to_numpy(),
        "in_domain": results["rf_in_domain"].fillna(False).to_numpy(dtype=bool),
    }
    verdicts = {"rf": results["rf_verdict"].to_numpy()}
    figure = plots.intervals_figure(ids, {"rf": scored}, 1500, "EU", verdicts)
    traces = {t.name: t for t in figure.data}
    assert set(traces) <= {"below", "send to lab", "above", "not trusted (outside the domain)"}
    assert traces["send to lab"].marker.color == plots.VERDICT_COLORS["send_to_lab"] != plots.COLORS["rf"]
    untrusted = {ids[i] for i in range(n) if not scored["in_domain"][i] and np.isfinite(scored["ppb"][i])}
    assert set(traces["not trusted (outside the domain)"].x) == untrusted
    assert traces["not trusted (outside the domain)"].marker.symbol.endswith("-open")
    between = {ids[i] for i in range(n) if results["rf_verdict"][i] == "send_to_lab"} - untrusted
    assert set(traces["send to lab"].x) == between and between
    assert sum(len(t.x) for t in figure.data) == n - 1  # every scored sample once
    assert list(figure.layout.xaxis.categoryarray) == sorted(
        (i for i in ids if i != "s1"), key=lambda i: scored["ppb"][ids.index(i)]
    )  # still sorted by prediction, whichever trace a sample is in
    # Without verdicts (older callers): one trace in the model's colour, crosses outside the domain.
    (plain,) = plots.intervals_figure(ids, {"rf": scored}, 1500, "EU").data
    assert plain.marker.color == plots.COLORS["rf"]


def test_the_sorted_band_marks_untrusted_samples_grey_and_colours_the_curve_by_verdict():
    n = 1000
    ppb = np.random.default_rng(1).lognormal(6.5, 1.0, n)
    scored = {"ppb": ppb, "low_ppb": ppb / 2, "high_ppb": ppb * 2, "in_domain": np.zeros(n, bool)}
    verdicts = {"rf": np.full(n, "send_to_lab", dtype=object)}
    figure = plots.intervals_figure([str(i) for i in range(n)], {"rf": scored}, 1500, "EU", verdicts)
    names = {t.name for t in figure.data}
    assert "rf: not trusted (outside the domain)" in names and "rf not trusted (outside the domain)" in names
    assert not {"rf: below", "rf: send to lab", "rf: above"} & names  # all 1000 outside: none coloured as a verdict
    crosses = next(t for t in figure.data if t.name == "rf not trusted (outside the domain)")
    assert crosses.marker.color == plots.VERDICT_COLORS["not_trusted"]


# --- problem 2: History and live performance ------------------------------------------------------------------


def test_history_plot_marks_untrusted_predictions(tmp_path):
    db = tmp_path / "h.sqlite"
    frame = pd.DataFrame(
        {
            "hsi_id": ["a", "b", "c"],
            "status": ["ok", "ok", "ok"],
            "rf_ppb": [100.0, 200.0, 300.0],
            "rf_in_domain": pd.array([True, False, None], dtype="boolean"),
        }
    )
    run = record_run(db, frame, "hsi_id", RunInfo("cli", {"rf": "v1"}, "x.csv", "abc"))
    points = predictions_over_time(db, [run], with_trust=True)
    figure = plots.predictions_over_time_figure(points)
    traces = {t.name: t for t in figure.data}
    assert sorted(values(traces["RF"].y)) == [100.0, 300.0]  # no domain check (None) counts as trusted, as elsewhere
    assert list(values(traces["not trusted (outside the domain)"].y)) == [200.0]
    assert traces["not trusted (outside the domain)"].marker.symbol == "circle-open"
    assert "1 of 3" in plots.left_out_note(3, 2, "plot", marked=True)


def history_rows(n: int, out: int, measured_error: float = 10.0, untrusted_error: float = 5000.0) -> pd.DataFrame:
    """results_since-like rows of one backend: the first `out` outside the domain, with a huge error."""
    measured = np.full(n, 1000.0)
    error = np.where(np.arange(n) < out, untrusted_error, measured_error)
    ppb = measured + error
    return pd.DataFrame(
        {
            "created_at": pd.Timestamp("2026-11-28 12:00", tz="UTC"),
            "backend": "rf",
            "status": "ok",
            "ppb": ppb,
            "low_ppb": ppb - 50,
            "high_ppb": ppb + 50,
            "measured_ppb": measured,
            "in_domain": [False] * out + [True] * (n - out),
        }
    )


def test_live_performance_uses_trusted_rows_only_and_counts_the_others():
    live = drift.live_performance(history_rows(100, 30), "D")
    (row,) = live.to_dict("records")
    assert row["rows"] == 70 and row["not_trusted"] == 30
    assert row["mae_ppb"] == pytest.approx(10.0)  # the 30 untrusted rows (error 5,000) would make it 1,507
    assert row["coverage"] == pytest.approx(1.0)  # trusted rows are inside their interval; the others were not
    # All rows outside (the dev file on the demo model): a line with no figures, not an MAE of 5,000.
    (none,) = drift.live_performance(history_rows(400, 400), "D").to_dict("records")
    assert none["rows"] == 0 and none["not_trusted"] == 400 and np.isnan(none["mae_ppb"])


def test_the_live_table_reads_like_a_report_and_the_axis_shows_dates():
    live = pd.DataFrame(
        {
            "period": pd.to_datetime(["2026-11-28"]),
            "backend": ["rf"],
            "rows": [70],
            "not_trusted": [30],
            "mae_ppb": [3151.3904],
            "median_error_ppb": [2000.4],
            "coverage": [0.7325],
        }
    )
    table = plots.live_table(live)
    assert list(table.columns) == list(plots.LIVE_HEADERS.values())
    (row,) = table.to_dict("records")
    assert row["MAE (ppb)"] == 3151 and row["median error (ppb)"] == 2000 and row["interval coverage (%)"] == 73.2
    assert row["model"] == "RF" and row["period from"] == "2026-11-28"
    caption = plots.live_caption(live)
    assert "From 70 rows" in caption and "30 of 100 rows" in caption and "not trusted" in caption
    figure = plots.performance_chart(live, "mae_ppb", 100.0, "MAE (ppb)")
    assert figure.layout.xaxis.type == "category" and list(figure.data[0].x) == ["2026-11-28"]
    coverage = plots.performance_chart(live, "coverage", 0.9, "interval coverage")
    assert coverage.layout.yaxis.tickformat == ".0%"


def test_the_statistic_panels_are_in_percent_of_samples_as_labelled():
    rows = pd.DataFrame({"t2": np.random.default_rng(0).chisquare(5, 500), "baseline": np.zeros(500)})
    reference = drift.Reference("rf", "v1", None, None, 5, 11.0, 1.0, 3.0)
    figure = plots.statistic_chart(rows, reference, "t2", 11.0, "Hotelling T²")
    assert figure.layout.yaxis.title.text == "% of samples"
    assert sum(figure.data[0].y) == pytest.approx(100.0)
    rng = np.random.default_rng(1)
    normal = pd.DataFrame({"baseline": rng.normal(size=20_000)})
    baseline = plots.statistic_chart(normal, reference, "baseline", 3.0, "baseline offset (SD)")
    bars, curve = baseline.data
    # The training N(0, 1) is drawn on the bars' scale: its peak meets theirs.
    assert max(curve.y) == pytest.approx(max(bars.y), rel=0.15)


# --- problem 3: drift status when the spectra lie outside the domain -------------------------------------------


def drift_frame(n: int, out: int, version: str = "v1") -> pd.DataFrame:
    """Rows like the calibration data in predictions and baseline (a low PSI), `out` of them outside the domain."""
    rng = np.random.default_rng(2)
    return pd.DataFrame(
        {
            "created_at": pd.Timestamp.now(tz="UTC"),
            "backend": "rf",
            "status": "ok",
            "ppb": rng.lognormal(6.5, 1.0, n),
            "baseline": rng.normal(size=n),
            "in_domain": [False] * out + [True] * (n - out),
            "model_versions": json.dumps({"rf": version}),
        }
    )


def test_the_status_warns_when_most_spectra_lie_outside_the_domain_whatever_the_psi():
    reference = drift.Reference("rf", "v1", np.random.default_rng(3).lognormal(6.5, 1.0, 2000), None, 5, 11.0, 1.0, 3.0)
    found = drift.drift(drift_frame(400, 400), reference, 0.25)
    assert found.score is not None and not found.exceeded  # PSI alone says "like the calibration data"
    assert found.out_of_domain == 400 and found.level == "warning"
    sentence = found.sentence(7)
    assert "400 of 400 spectra (100%)" in sentence and "outside the calibration domain" in sentence
    assert "not trusted" in sentence and "recalibrate" in sentence and "look like" not in sentence
    # A few outside, as in the calibration data itself (1-5 %): still fine.
    calm = drift.drift(drift_frame(400, 12), reference, 0.25)
    assert calm.level == "success" and "12 of 400" in calm.sentence(7)
    # Just over the threshold warns; a handful of rows does not.
    over = int(400 * drift.OUT_OF_DOMAIN_WARN_SHARE) + 1
    assert drift.drift(drift_frame(400, over), reference, 0.25).level == "warning"
    assert drift.drift(drift_frame(4, 4), reference, 0.25).level == "info"


def test_the_monitoring_page_warns_and_leaves_untrusted_rows_out_of_live_performance(
    trained_registry, tmp_path, monkeypatch
):
    db = tmp_path / "h.sqlite"
    monkeypatch.setenv("DON_HISTORY_DB", str(db))
    monkeypatch.setenv("DON_MODELS_DIR", str(trained_registry.root))
    version = trained_registry.active_version("rf")
    reference = drift.load_reference("rf", version, trained_registry.get("rf", version).path)
    rng = np.random.default_rng(4)
    ppb = rng.choice(reference.calibration_ppb, 400)
    results = pd.DataFrame(
        {
            "hsi_id": [f"s{i}" for i in range(400)],
            "status": "ok",
            "rf_ppb": ppb,
            "rf_low_ppb": ppb / 2,
            "rf_high_ppb": ppb * 2,
            "rf_in_domain": pd.array([False] * 400, dtype="boolean"),
            "rf_verdict": "send_to_lab",
            "rf_baseline": rng.normal(size=400),
            "vomitoxin_ppb": ppb + 3000.0,
        }
    )
    record_run(db, results, "hsi_id", RunInfo("compare", {"rf": version}, "dev.csv", "dev"))
    assert len(results_since(db, datetime.now(UTC) - timedelta(hours=1))) == 400
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/monitoring.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("400 of 400 spectra (100%)" in w.value for w in at.warning)
    assert not any(s.value.startswith(f"RF {version}") for s in at.success)
    assert any("No row with a measured value lies in the calibration domain" in w.value for w in at.warning)
    assert any("400 of 400 rows with a measured value were left out" in c.value for c in at.caption)
    (live,) = [df.value for df in at.dataframe if "MAE (ppb)" in df.value.columns]
    assert live["rows used (trusted)"].tolist() == [0] and live["left out (not trusted)"].tolist() == [400]
    assert live["MAE (ppb)"].isna().all()


def dev_file_on_page(page: str, registry, real_data, tmp_path, monkeypatch):
    """The real dev file uploaded on a page (rf, tf or compare): the page, and the rows its run recorded."""
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "h.sqlite"))
    monkeypatch.setenv("DON_MODELS_DIR", str(registry.root))
    at = AppTest.from_file(APP, default_timeout=300)
    at.switch_page(f"pages/{page}.py")
    at.run()
    at.file_uploader(key=f"{page}_file").set_value(("corn_hsi_dev.csv", real_data.read_bytes(), "text/csv"))
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at, results_since(tmp_path / "h.sqlite", datetime.now(UTC) - timedelta(hours=1))


def test_the_rf_page_draws_no_untrusted_prediction_as_a_result(trained_registry, real_data, tmp_path, monkeypatch):
    """The trial itself: the real dev file on the demo-trained model, where (nearly) every spectrum lies outside."""
    at, rows = dev_file_on_page("rf", trained_registry, real_data, tmp_path, monkeypatch)
    n_trusted = int(drift.trusted(rows).sum())
    left_out = len(rows) - n_trusted
    assert left_out > 0  # the premise: the dev spectra lie outside the demo model's domain
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    (histogram,) = [s for s in specs if any(t.get("type") == "histogram" for t in s["data"])]
    (trace,) = histogram["data"]
    assert len(values(trace.get("x", []))) == n_trusted  # trusted predictions only
    assert any(f"{left_out:,} of {len(rows):,} scored spectra lie outside" in c.value for c in at.caption)
    scatter = next(
        s for s in specs if s["layout"].get("xaxis", {}).get("title", {}).get("text") == "measured DON (ppb)"
    )
    grey = next(t for t in scatter["data"] if "not trusted" in (t.get("name") or ""))
    assert len(values(grey["x"])) == left_out and grey["marker"]["symbol"] == "circle-open"


def test_the_compare_page_draws_no_untrusted_prediction_as_a_result(trained_registry, real_data, tmp_path, monkeypatch):
    """Compare on the real dev file: each model's histogram counts its trusted predictions only, the TF-against-RF
    scatter marks the samples one of them does not trust."""
    at, rows = dev_file_on_page("compare", trained_registry, real_data, tmp_path, monkeypatch)
    trusted = {b: int(drift.trusted(rows[rows["backend"] == b]).sum()) for b in ("rf", "tf")}
    assert min(trusted.values()) < 400  # the premise: dev spectra lie outside the demo models' domains
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    (histogram,) = [s for s in specs if any(t.get("type") == "histogram" for t in s["data"])]
    counted = sorted(len(values(t.get("x", []))) for t in histogram["data"] if t.get("type") == "histogram")
    assert counted == sorted(trusted.values())
    assert any("scored spectra lie outside" in c.value for c in at.caption)

"""The charts stay readable at any size: one marker per sample for a few, aggregate WebGL views for thousands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from don_predictor import plots


def scored(n: int, out_of_domain_every: int = 7, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ppb = rng.lognormal(6.5, 1.2, n)
    ppb[3] = np.nan  # a row that was not scored
    return {
        "ppb": ppb,
        "low_ppb": ppb / 2,
        "high_ppb": ppb * 2,
        "in_domain": np.arange(n) % out_of_domain_every != 0,
    }


def test_a_few_samples_get_one_marker_each_with_its_interval():
    n = plots.AGGREGATE_ABOVE - 10
    fig = plots.intervals_figure([f"s{i}" for i in range(n)], {"rf": scored(n)}, 1500, "EU maize")
    (trace,) = fig.data
    assert trace.type == "scatter" and len(trace.y) == n - 1  # the unscored row is left out
    assert trace.error_y.array is not None and list(trace.marker.symbol).count("x") > 0


def test_thousands_of_samples_become_a_sorted_band_with_an_envelope():
    n = 20_000
    data = scored(n, out_of_domain_every=3)
    fig = plots.intervals_figure([f"s{i}" for i in range(n)], {"rf": data, "tf": scored(n, seed=1)}, 1500, "EU")
    assert sum(len(t.x) for t in fig.data) < 5 * plots.CURVE_POINTS * 2  # the chart's weight does not grow with n
    curve = next(t for t in fig.data if t.name == "rf")
    assert len(curve.y) == plots.CURVE_POINTS and np.all(np.diff(curve.y) >= 0)  # sorted, lowest to highest
    assert 0 < curve.x[0] < 1 and 99 < curve.x[-1] < 100
    finite = data["ppb"][np.isfinite(data["ppb"])]
    assert abs(np.log(curve.y[len(curve.y) // 2] / np.median(finite))) < 0.05  # the middle is the median prediction
    envelope = next(t for t in fig.data if (t.name or "").startswith("rf 90 % intervals"))
    assert envelope.fill == "tonexty" and np.all(np.asarray(envelope.y) <= np.asarray(curve.y))
    crosses = next(t for t in fig.data if t.name == "rf not trusted (outside the domain)")
    assert len(crosses.x) == plots.MAX_FLAGGED_MARKERS  # thinned: about 6,700 flagged samples
    assert any(shape.y0 == 1500 for shape in fig.layout.shapes)


def test_scatter_plots_switch_to_webgl_for_many_points():
    few, many = np.arange(1, 50.0), np.arange(1, 5000.0)
    assert plots.compare_scatter(few, few, [str(i) for i in few]).data[0].type == "scatter"
    assert plots.compare_scatter(many, many, [str(i) for i in many]).data[0].type == "scattergl"
    figure = plots.actual_vs_predicted(many, {"rf": many}, [str(i) for i in many])
    assert figure.data[0].type == "scattergl"


def test_log_axes_are_labelled_at_powers_of_ten_only():
    """A new user read the log axis as '1 2 5 10 2 5 100': plotly labels 2 and 5 between decades by default."""
    rng = np.random.default_rng(0)
    ppb = rng.lognormal(6.5, 1.5, 50)
    figures = [
        plots.actual_vs_predicted(ppb, {"rf": ppb * 1.1}, [str(i) for i in range(50)]),
        plots.compare_scatter(ppb, ppb * 0.9, [str(i) for i in range(50)]),
    ]
    for figure in figures:
        for axis in (figure.layout.xaxis, figure.layout.yaxis):
            assert axis.type == "log" and axis.dtick == 1 and axis.tickformat == ",.0f"


def test_ids_with_hidden_characters_are_shown_escaped_in_the_charts():
    """A new user's 'lot\\u202efdp.exe' read 'lotexe.pdf' on the interval chart's axis and in the spectrum legend."""
    spoof, ids = "lot\u202efdp.exe", ["lot\u202efdp.exe", "a\u200bb", "plain"]
    ppb = np.array([100.0, 2000.0, 50.0])
    figures = [
        plots.intervals_figure(ids, {"rf": {"ppb": ppb, "low_ppb": ppb / 2, "high_ppb": ppb * 2}}, 1500.0, "limit"),
        plots.spectra_figure(["1", "2"], np.ones((3, 2)), ids),
        plots.spectrum_against_mean(["1", "2"], np.ones(2), None, spoof),
        plots.compare_scatter(ppb, ppb, ids),
    ]
    shown = []
    for figure in figures:
        for trace in figure.data:
            for field in ("x", "text", "name", "customdata"):
                values = getattr(trace, field, None)
                if values is not None:
                    shown += [str(v) for v in np.ravel(np.asarray(values, dtype=object))]
    assert not any("\u202e" in v or "\u200b" in v for v in shown)  # no raw direction-changing or invisible mark
    assert any("lot\\u202efdp.exe" in v for v in shown)  # the escape itself, readable


def test_the_verification_chart_draws_each_period_with_its_bounds_and_alpha():
    from don_predictor import plots

    series = pd.DataFrame(
        {
            "period": pd.to_datetime(["2026-03-01", "2026-03-02"], utc=True),
            "verified": [30, 40],
            "truly_above": [0, 3],
            "cumulative_verified": [30, 70],
            "cumulative_rate": [float("nan"), 0.08],
            "lower": [0.0, 0.02],
            "upper": [0.3, 0.15],
        }
    )
    figure = plots.verification_chart(series, 0.05, "RF at 1,500 ppb")
    (trace,) = figure.data
    assert list(trace.x) == ["2026-03-01", "2026-03-02"] and list(trace.y) == [0.0, 0.08]
    assert list(trace.error_y.array) == pytest.approx([0.3, 0.07]) and list(trace.error_y.arrayminus) == pytest.approx(
        [0.0, 0.06]
    )
    assert figure.layout.shapes[0].y0 == 0.05  # the α line


def test_the_check_sample_chart_marks_the_points_that_break_a_rule():
    from don_predictor import plots
    from don_predictor.lab.check_samples import westgard

    values = [1000.0, 1010, 990, 1005, 995, 1000, 1008, 992, 1003, 997, 1900]
    chart = westgard(np.array(values)).assign(time=pd.date_range("2026-03-01", periods=11, tz="UTC"))
    figure = plots.check_sample_chart(chart, "RF")
    broken = [t for t in figure.data if t.name == "rule broken"]
    assert len(broken) == 1 and list(broken[0].y) == [1900.0] and "1-3s" in broken[0].text[0]

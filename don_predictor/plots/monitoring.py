"""The Monitoring page's figures and tables: shares and verdicts per period, recent predictions and domain
statistics against the calibration, live performance against cross-validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from don_predictor.plots.style import VERDICT_COLORS
from don_predictor.services.drift import Reference


def share_chart(table: pd.DataFrame, column: str, title: str) -> go.Figure:
    figure = px.line(_labelled(table), x="period", y=column, color="backend", markers=True, hover_data=["rows"])
    figure.update_layout(yaxis_title=title, yaxis_tickformat=".0%", yaxis_range=[0, 1.05], height=300)
    figure.update_layout(margin={"t": 30})
    # One point per period, evenly spaced, in date order (ISO dates sort as text) whichever model had it first.
    figure.update_xaxes(type="category", categoryorder="category ascending", title=None)
    return figure


def verdict_chart(table: pd.DataFrame) -> go.Figure:
    long = _labelled(table).melt(["period", "backend", "rows"], ["below", "send_to_lab", "above"], "verdict", "share")
    figure = px.bar(
        long,
        x="period",
        y="share",
        color="verdict",
        facet_row="backend",
        barmode="stack",
        hover_data=["rows"],
        color_discrete_map={v: VERDICT_COLORS[v] for v in ("below", "send_to_lab", "above")},
    )
    figure.update_layout(height=220 + 140 * table["backend"].nunique(), margin={"t": 30})
    figure.update_yaxes(tickformat=".0%", range=[0, 1], title=None)  # every panel, not only the first
    figure.update_xaxes(type="category", categoryorder="category ascending", title=None)  # full-width bars
    figure.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1].upper()))  # "RF", not "backend=rf"
    return figure


def _labelled(table: pd.DataFrame) -> pd.DataFrame:
    """The periods as text ('2026-11-28'): a category axis draws one full-width bar or point per period."""
    return table.assign(period=pd.to_datetime(table["period"]).dt.strftime("%Y-%m-%d"))


def predictions_vs_calibration(rows: pd.DataFrame, reference: Reference) -> go.Figure:
    """Recent predictions against the calibration data's out-of-fold predictions, as shares on a log axis."""
    figure = go.Figure()
    if reference.calibration_ppb is not None:
        figure.add_histogram(x=np.log10(1 + reference.calibration_ppb), name="calibration", histnorm="percent")
    figure.add_histogram(x=np.log10(1 + rows["ppb"].to_numpy(float)), name="recent", histnorm="percent")
    figure.update_layout(
        barmode="overlay", xaxis_title="log10(1 + predicted ppb)", yaxis_title="% of samples", height=300
    )
    figure.update_traces(opacity=0.6)
    return figure


STATISTIC_BINS = 30


def statistic_chart(rows: pd.DataFrame, reference: Reference, column: str, limit: float, label: str) -> go.Figure:
    """A domain statistic's recent distribution as % of samples per bin (as the predictions' panel beside it), with
    its limit (and, for the baseline, its training N(0, 1) scaled to the same bins)."""
    values = rows[column].dropna().to_numpy(float)
    values = values[np.isfinite(values)]
    figure = go.Figure()
    if len(values):
        counts, edges = np.histogram(values, bins=STATISTIC_BINS)
        width = float(edges[1] - edges[0])
        figure.add_bar(
            x=(edges[:-1] + edges[1:]) / 2, y=100.0 * counts / len(values), width=width, name="recent", opacity=0.7
        )
        if column == "baseline":
            grid = np.linspace(-4, 4, 200)
            density = np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi)
            figure.add_scatter(x=grid, y=100.0 * density * width, name="training N(0, 1)")
    if np.isfinite(limit):
        for edge in (limit, -limit) if column == "baseline" else (limit,):
            figure.add_vline(x=edge, line_dash="dash", annotation_text="limit")
    figure.update_layout(
        xaxis_title=label,
        yaxis_title="% of samples",
        height=280,
        margin={"t": 30},
        bargap=0,
        showlegend=column == "baseline",
    )
    return figure


def performance_chart(table: pd.DataFrame, column: str, reference: float | None, title: str) -> go.Figure:
    """One point per period on a category axis of dates: a single day would otherwise get a time axis in
    milliseconds ("23:59:59.999 … 00:00:00.001")."""
    figure = px.line(_labelled(table), x="period", y=column, color="backend", markers=True, hover_data=["rows"])
    if reference is not None:
        figure.add_hline(y=reference, line_dash="dot", annotation_text="cross-validation")
    figure.update_layout(yaxis_title=title, height=280, margin={"t": 30})
    if column == "coverage":
        figure.update_layout(yaxis_tickformat=".0%", yaxis_range=[0, 1.05])
    figure.update_xaxes(type="category", categoryorder="category ascending", title=None)
    return figure


LIVE_HEADERS = {
    "period": "period from",
    "backend": "model",
    "rows": "rows used (trusted)",
    "not_trusted": "left out (not trusted)",
    "mae_ppb": "MAE (ppb)",
    "median_error_ppb": "median error (ppb)",
    "coverage": "interval coverage (%)",
}


def live_table(live: pd.DataFrame) -> pd.DataFrame:
    """drift.live_performance for reading: human headers, dates without a time, ppb to the unit, coverage in %."""
    shown = _labelled(live).assign(
        backend=live["backend"].str.upper(),
        mae_ppb=live["mae_ppb"].astype(float).round(0).astype("Int64"),
        median_error_ppb=live["median_error_ppb"].astype(float).round(0).astype("Int64"),
        coverage=(100 * live["coverage"].astype(float)).round(1),
    )
    return shown[list(LIVE_HEADERS)].rename(columns=LIVE_HEADERS)


def live_caption(live: pd.DataFrame) -> str:
    """How many rows the live figures come from, and how many were left out as not trusted."""
    used, left_out = int(live["rows"].sum()), int(live["not_trusted"].sum())
    text = (
        f"From {used:,} rows of uploads that carried measured values and lie in the model's calibration domain; "
        "the dotted line is the active version's cross-validation."
    )
    if left_out:
        text += (
            f" {left_out:,} of {used + left_out:,} rows with a measured value were left out: their spectra lie "
            "outside the calibration domain, so their predictions are not trusted."
        )
    return text


def verification_chart(series: pd.DataFrame, alpha: float, title: str) -> go.Figure:
    """The screen verified over time: per period, the cumulative estimated false-compliant rate with its one-sided
    95 % Clopper–Pearson bounds as error bars, and α. An alarm is a lower bound above the α line."""
    period = pd.to_datetime(series["period"], errors="coerce")
    x = period.dt.strftime("%Y-%m-%d") if period.notna().all() else series["period"].astype(str)
    rate = pd.to_numeric(series["cumulative_rate"], errors="coerce").fillna(0.0)
    upper = pd.to_numeric(series["upper"], errors="coerce") - rate
    lower = rate - pd.to_numeric(series["lower"], errors="coerce")
    figure = go.Figure()
    figure.add_scatter(
        x=x,
        y=rate,
        mode="lines+markers",
        name="estimated false-compliant rate (95 % bounds)",
        error_y={"type": "data", "array": upper, "arrayminus": lower, "symmetric": False},
        customdata=series[["cumulative_verified"]],
        hovertemplate="%{y:.1%} from %{customdata[0]} verified cleared samples<extra></extra>",
    )
    figure.add_hline(y=alpha, line={"color": VERDICT_COLORS["above"], "dash": "dash"}, annotation_text=f"α {alpha:.0%}")
    figure.update_layout(title=title, yaxis_tickformat=".0%", yaxis_range=[0, 1.05], height=300, margin={"t": 40})
    figure.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.2})
    figure.update_xaxes(type="category", title=None)
    return figure


def check_sample_chart(chart: pd.DataFrame, title: str) -> go.Figure:
    """A Levey–Jennings chart of a check sample's predictions: the running mean, ±2 SD and ±3 SD, and the points
    that break a Westgard rule in red (their rules on hover)."""
    x = pd.to_datetime(chart["time"], utc=True)
    figure = go.Figure()
    for k, dash in ((0, "solid"), (2, "dot"), (-2, "dot"), (3, "dash"), (-3, "dash")):
        figure.add_scatter(
            x=x,
            y=chart["mean"] + k * chart["sd"],
            mode="lines+markers",  # a marker too: a line of one judged point would not show
            marker={"size": 3, "color": "#37474F"},
            line={"color": "#37474F", "dash": dash, "width": 1},
            name="running mean" if k == 0 else f"{k:+d} SD",
            showlegend=k in (0, 2, 3),
        )
    broken = chart["rules"].astype(str) != ""
    for part, color, name in ((~broken, "#2E7D32", "prediction"), (broken, VERDICT_COLORS["above"], "rule broken")):
        if part.any():
            figure.add_scatter(
                x=x[part],
                y=chart["value"][part],
                mode="markers",
                marker={"color": color, "size": 8},
                name=name,
                text=chart["rules"][part],
                hovertemplate="%{y:,.0f} ppb %{text}<extra></extra>",
            )
    figure.update_layout(title=title, yaxis_title="predicted DON (ppb)", height=300, margin={"t": 40})
    return figure

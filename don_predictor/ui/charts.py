"""Plotly figures for the pages. Plain functions of arrays, so tests can build them without a browser."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from don_predictor.config import SCREENING_LIMIT_PPB

COLORS = {"rf": "#2E7D32", "tf": "#EF6C00", "mean": "#37474F", "limit": "#C62828"}
MIN_LOG_PPB = 1.0  # zeros cannot sit on a log axis: they are drawn at 1 ppb
# Above this many samples one marker per sample becomes a wall: charts switch to WebGL and aggregate views.
AGGREGATE_ABOVE = 300
MAX_FLAGGED_MARKERS = 400  # out-of-domain crosses drawn on an aggregate chart (evenly thinned beyond)
CURVE_POINTS = 400  # groups of sorted samples on an aggregate chart


def scatter_type(n_points: int) -> type[go.Scatter] | type[go.Scattergl]:
    """SVG markers for a readable few, WebGL for thousands (SVG slows the browser from a few thousand points)."""
    return go.Scattergl if n_points > AGGREGATE_ABOVE else go.Scatter


def band_axis(band_names: list[str]) -> tuple[np.ndarray, str]:
    """x values and their label: wavelengths in nm when the names look like them, else band numbers."""
    x = np.array([float(b) for b in band_names])
    return x, "wavelength (nm)" if x.min() >= 300 else "band"


def spectra_figure(band_names: list[str], X: np.ndarray, ids: list[str], n_examples: int = 5) -> go.Figure:
    """Mean spectrum with a 5–95 % band, plus a few individual spectra."""
    x, label = band_axis(band_names)
    X = X[np.isfinite(X).all(axis=1)]
    fig = go.Figure()
    if len(X):
        low, high = np.percentile(X, [5, 95], axis=0)
        fig.add_trace(go.Scatter(x=x, y=high, line={"width": 0}, showlegend=False, hoverinfo="skip"))
        fig.add_trace(
            go.Scatter(x=x, y=low, fill="tonexty", line={"width": 0}, name="5–95 %", fillcolor="rgba(55,71,79,0.2)")
        )
        for i in np.linspace(0, len(X) - 1, min(n_examples, len(X))).astype(int):
            fig.add_trace(go.Scatter(x=x, y=X[i], name=str(ids[i]), line={"width": 1}, opacity=0.6))
        fig.add_trace(go.Scatter(x=x, y=X.mean(axis=0), name="mean", line={"color": COLORS["mean"], "width": 3}))
    fig.update_layout(xaxis_title=label, yaxis_title="reflectance", height=380, margin={"t": 30})
    return fig


def prediction_histogram(predictions: dict[str, np.ndarray], limit_ppb: float = SCREENING_LIMIT_PPB) -> go.Figure:
    """Distribution of predictions on a log axis, one colour per backend, the limit as a line."""
    fig = go.Figure()
    for name, ppb in predictions.items():
        ppb = ppb[np.isfinite(ppb)]
        fig.add_trace(
            go.Histogram(
                x=np.log10(np.maximum(ppb, MIN_LOG_PPB)), name=name, marker_color=COLORS.get(name), opacity=0.7
            )
        )
    fig.add_vline(x=np.log10(limit_ppb), line={"color": COLORS["limit"], "dash": "dash"}, annotation_text="limit")
    ticks = np.arange(0, 7)
    fig.update_layout(
        barmode="overlay",
        xaxis={
            "title": "predicted DON (ppb, log scale)",
            "tickvals": ticks,
            "ticktext": [f"{10**t:,.0f}" for t in ticks],
        },
        yaxis_title="samples",
        height=340,
        margin={"t": 30},
    )
    return fig


def actual_vs_predicted(actual: np.ndarray, predictions: dict[str, np.ndarray], ids: list[str]) -> go.Figure:
    fig = go.Figure()
    finite = np.isfinite(actual)
    for name, ppb in predictions.items():
        keep = finite & np.isfinite(ppb)
        fig.add_trace(
            scatter_type(int(keep.sum()))(
                x=np.maximum(actual[keep], MIN_LOG_PPB),
                y=np.maximum(ppb[keep], MIN_LOG_PPB),
                mode="markers",
                name=name,
                text=np.asarray(ids)[keep],
                marker={"color": COLORS.get(name), "opacity": 0.7},
            )
        )
    _identity_line(fig, actual[finite])
    return _log_log(fig, "measured DON (ppb)", "predicted DON (ppb)")


def compare_scatter(rf_ppb: np.ndarray, tf_ppb: np.ndarray, ids: list[str]) -> go.Figure:
    keep = np.isfinite(rf_ppb) & np.isfinite(tf_ppb)
    fig = go.Figure(
        scatter_type(int(keep.sum()))(
            x=np.maximum(rf_ppb[keep], MIN_LOG_PPB),
            y=np.maximum(tf_ppb[keep], MIN_LOG_PPB),
            mode="markers",
            text=np.asarray(ids)[keep],
            name="samples",
            marker={"color": COLORS["tf"], "opacity": 0.7},
        )
    )
    _identity_line(fig, np.concatenate([rf_ppb[keep], tf_ppb[keep]]))
    return _log_log(fig, "RandomForest (ppb)", "TensorFlow (ppb)")


def _log_log(fig: go.Figure, x_title: str, y_title: str) -> go.Figure:
    """Both axes in log ppb: DON spans four decades, and the identity line stays a diagonal."""
    fig.update_layout(
        xaxis={"title": x_title, "type": "log"}, yaxis={"title": y_title, "type": "log"}, height=420, margin={"t": 30}
    )
    return fig


def spectrum_against_mean(band_names: list[str], spectrum: np.ndarray, mean: np.ndarray | None, label: str):
    x, axis_label = band_axis(band_names)
    fig = go.Figure(go.Scatter(x=x, y=spectrum, name=label, line={"color": COLORS["tf"]}))
    if mean is not None:
        fig.add_trace(go.Scatter(x=x, y=mean, name="training mean", line={"color": COLORS["mean"], "dash": "dot"}))
    fig.update_layout(xaxis_title=axis_label, yaxis_title="reflectance", height=340, margin={"t": 30})
    return fig


def loss_curve(history: dict[str, list[float]]) -> go.Figure:
    fig = go.Figure()
    for key, values in history.items():
        fig.add_trace(go.Scatter(x=np.arange(1, len(values) + 1), y=values, name=key))
    fig.update_layout(xaxis_title="epoch", yaxis_title="loss (Huber, scaled target)", height=320, margin={"t": 30})
    return fig


def _identity_line(fig: go.Figure, values: np.ndarray) -> None:
    values = values[np.isfinite(values)]
    top = max(float(values.max()) if len(values) else 10.0, 10.0) * 1.5
    fig.add_trace(
        go.Scatter(x=[MIN_LOG_PPB, top], y=[MIN_LOG_PPB, top], mode="lines", name="identity", line={"dash": "dot"})
    )


def intervals_figure(
    ids: list[str], predictions: dict[str, dict[str, np.ndarray]], limit_ppb: float, limit_label: str
) -> go.Figure:
    """Each sample's prediction with its interval as an error bar, sorted by the first backend; out-of-domain
    samples drawn as crosses; the limit as a horizontal line. Above AGGREGATE_ABOVE samples: the sorted
    predictions as a band (see sorted_band_figure)."""
    n_scored = int(np.isfinite(next(iter(predictions.values()))["ppb"]).sum())
    if n_scored > AGGREGATE_ABOVE:
        return sorted_band_figure(predictions, limit_ppb, limit_label)
    fig = go.Figure()
    first = next(iter(predictions.values()))["ppb"]
    order = np.argsort(np.nan_to_num(first, nan=-1.0))
    order = order[np.isfinite(first[order])]
    x = np.asarray(ids)[order]
    for name, scored in predictions.items():
        ppb = np.maximum(scored["ppb"][order], MIN_LOG_PPB)
        error = None
        if "low_ppb" in scored:
            low = np.maximum(scored["low_ppb"][order], MIN_LOG_PPB)
            high = np.maximum(scored["high_ppb"][order], MIN_LOG_PPB)
            error = {"type": "data", "symmetric": False, "array": high - ppb, "arrayminus": ppb - low, "thickness": 1}
        in_domain = scored.get("in_domain")
        symbols = "circle" if in_domain is None else np.where(in_domain[order], "circle", "x")
        fig.add_trace(
            go.Scatter(
                x=x,
                y=ppb,
                error_y=error,
                mode="markers",
                name=name,
                marker={"color": COLORS.get(name), "symbol": symbols, "size": 7},
            )
        )
    fig.add_hline(y=limit_ppb, line={"color": COLORS["limit"], "dash": "dash"}, annotation_text=limit_label)
    fig.update_layout(
        xaxis={"title": "sample (sorted by prediction)", "showticklabels": len(x) <= 60},
        yaxis={"title": "DON (ppb), 90 % interval", "type": "log"},
        height=420,
        margin={"t": 30},
    )
    return fig


def sorted_band_figure(predictions: dict[str, dict[str, np.ndarray]], limit_ppb: float, limit_label: str) -> go.Figure:
    """Many samples at once: per backend, the predictions sorted from lowest to highest against the share of
    samples (a quantile curve), the median 90 % interval of the samples around each point as a shaded envelope,
    and the out-of-domain samples as crosses on the curve. Where the curve crosses the limit reads as "this share
    is predicted below". The sorted samples are summarised in CURVE_POINTS groups, so the chart weighs the same for
    a thousand samples or a million."""
    fig = go.Figure()
    for name, scored in predictions.items():
        ppb = scored["ppb"]
        order = np.argsort(np.nan_to_num(ppb, nan=-1.0))
        order = order[np.isfinite(ppb[order])]
        if not len(order):
            continue
        share = 100.0 * (np.arange(len(order)) + 0.5) / len(order)
        groups = np.array_split(np.arange(len(order)), min(CURVE_POINTS, len(order)))
        x = np.array([share[g].mean() for g in groups])
        color = COLORS.get(name)
        if "low_ppb" in scored:
            low = np.array([np.median(scored["low_ppb"][order[g]]) for g in groups])
            high = np.array([np.median(scored["high_ppb"][order[g]]) for g in groups])
            fig.add_trace(
                go.Scatter(x=x, y=np.maximum(high, MIN_LOG_PPB), line={"width": 0}, showlegend=False, hoverinfo="skip")
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=np.maximum(low, MIN_LOG_PPB),
                    fill="tonexty",
                    line={"width": 0},
                    name=f"{name} 90 % intervals (median)",
                    fillcolor=_translucent(color),
                )
            )
        curve = np.array([np.median(ppb[order[g]]) for g in groups])
        fig.add_trace(go.Scatter(x=x, y=np.maximum(curve, MIN_LOG_PPB), name=name, line={"color": color, "width": 2}))
        in_domain = scored.get("in_domain")
        if in_domain is not None:
            flagged = np.flatnonzero(~in_domain[order])
            if len(flagged) > MAX_FLAGGED_MARKERS:
                flagged = flagged[np.linspace(0, len(flagged) - 1, MAX_FLAGGED_MARKERS).astype(int)]
            if len(flagged):
                fig.add_trace(
                    go.Scatter(
                        x=share[flagged],
                        y=np.maximum(ppb[order][flagged], MIN_LOG_PPB),
                        mode="markers",
                        name=f"{name} outside the domain",
                        marker={"color": color, "symbol": "x", "size": 6},
                    )
                )
    fig.add_hline(y=limit_ppb, line={"color": COLORS["limit"], "dash": "dash"}, annotation_text=limit_label)
    fig.update_layout(
        xaxis={"title": "share of samples, sorted by prediction (%)", "range": [0, 100]},
        yaxis={"title": "DON (ppb), 90 % interval", "type": "log"},
        height=420,
        margin={"t": 30},
    )
    return fig


def _translucent(hex_color: str | None, alpha: float = 0.25) -> str:
    hex_color = (hex_color or "#37474F").lstrip("#")
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def band_importance_figure(importance: dict, band_names: list[str]) -> go.Figure:
    """Permutation importance per window of bands (bars) and the forest's impurity importance (line), if any."""
    x, label = band_axis(band_names)
    fig = go.Figure()
    permutation = importance.get("permutation")
    if permutation:
        starts = np.asarray(permutation["window_start"])
        width = permutation["window"]
        centres = [x[min(s + width // 2, len(x) - 1)] for s in starts]
        fig.add_trace(go.Bar(x=centres, y=permutation["mae_increase_sqrt_ppb"], name="permutation (MAE increase)"))
    impurity = importance.get("impurity")
    if impurity:
        fig.add_trace(go.Scatter(x=x, y=impurity, name="impurity (RF)", yaxis="y2", line={"color": COLORS["rf"]}))
    fig.update_layout(
        xaxis_title=label,
        yaxis_title="MAE increase (sqrt ppb)",
        yaxis2={"title": "impurity importance", "overlaying": "y", "side": "right", "showgrid": False},
        height=340,
        margin={"t": 30},
        legend={"orientation": "h"},
    )
    return fig

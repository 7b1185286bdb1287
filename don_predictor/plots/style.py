"""Colours, markers and axes shared by every figure, and the small helpers they are drawn with."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

COLORS = {"rf": "#2E7D32", "tf": "#EF6C00", "mean": "#37474F", "limit": "#C62828"}
# Verdict colours as on the Monitoring page; a prediction the app does not trust is grey and hollow everywhere.
NOT_TRUSTED = "not_trusted"
VERDICT_COLORS = {"below": "#2E7D32", "send_to_lab": "#F9A825", "above": "#C62828", NOT_TRUSTED: "#9E9E9E"}
VERDICT_LABELS = {
    "below": "below",
    "send_to_lab": "send to lab",
    "above": "above",
    NOT_TRUSTED: "not trusted (outside the domain)",
}
UNTRUSTED_MARKER = {"color": VERDICT_COLORS[NOT_TRUSTED], "symbol": "circle-open", "size": 7}
BACKEND_SYMBOLS = ("circle", "diamond", "square", "triangle-up")
MIN_LOG_PPB = 1.0  # zeros cannot sit on a log axis: they are drawn at 1 ppb
# A log axis labelled at each power of ten only, as whole ppb: plotly's own labels read "1 2 5 10 2 5 100" (the 2 and
# 5 between decades look like values of their own).
LOG_PPB_AXIS = {"type": "log", "dtick": 1, "tickformat": ",.0f"}
# Above this many samples one marker per sample becomes a wall: charts switch to WebGL and aggregate views.
AGGREGATE_ABOVE = 300
MAX_FLAGGED_MARKERS = 400  # out-of-domain crosses drawn on an aggregate chart (evenly thinned beyond)
CURVE_POINTS = 400  # groups of sorted samples on an aggregate chart


def scatter_type(n_points: int) -> type[go.Scatter] | type[go.Scattergl]:
    """SVG markers for a readable few, WebGL for thousands (SVG slows the browser from a few thousand points)."""
    return go.Scattergl if n_points > AGGREGATE_ABOVE else go.Scatter


def log_log(fig: go.Figure, x_title: str, y_title: str) -> go.Figure:
    """Both axes in log ppb: DON spans four decades, and the identity line stays a diagonal."""
    fig.update_layout(
        xaxis={"title": x_title, **LOG_PPB_AXIS}, yaxis={"title": y_title, **LOG_PPB_AXIS}, height=420, margin={"t": 30}
    )
    return fig


def identity_line(fig: go.Figure, values: np.ndarray) -> None:
    values = values[np.isfinite(values)]
    top = max(float(values.max()) if len(values) else 10.0, 10.0) * 1.5
    fig.add_trace(
        go.Scatter(x=[MIN_LOG_PPB, top], y=[MIN_LOG_PPB, top], mode="lines", name="identity", line={"dash": "dot"})
    )


def most_common(values: np.ndarray) -> str:
    found, counts = np.unique(values.astype(str), return_counts=True)
    return str(found[np.argmax(counts)]) if len(found) else ""


def translucent(hex_color: str | None, alpha: float = 0.25) -> str:
    hex_color = (hex_color or "#37474F").lstrip("#")
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"

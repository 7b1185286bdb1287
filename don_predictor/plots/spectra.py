"""Figures of spectra: the upload's, one sample against the calibration mean, the bands a model relies on."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from don_predictor.plain_text import visible
from don_predictor.plots.style import COLORS


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
            fig.add_trace(go.Scatter(x=x, y=X[i], name=visible(ids[i]), line={"width": 1}, opacity=0.6))
        fig.add_trace(go.Scatter(x=x, y=X.mean(axis=0), name="mean", line={"color": COLORS["mean"], "width": 3}))
    fig.update_layout(xaxis_title=label, yaxis_title="reflectance", height=380, margin={"t": 30})
    return fig


def spectrum_against_mean(band_names: list[str], spectrum: np.ndarray, mean: np.ndarray | None, label: str):
    x, axis_label = band_axis(band_names)
    fig = go.Figure(go.Scatter(x=x, y=spectrum, name=visible(label), line={"color": COLORS["tf"]}))
    if mean is not None:
        fig.add_trace(go.Scatter(x=x, y=mean, name="training mean", line={"color": COLORS["mean"], "dash": "dot"}))
    fig.update_layout(xaxis_title=axis_label, yaxis_title="reflectance", height=340, margin={"t": 30})
    return fig


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

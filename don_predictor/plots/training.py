"""Figures of a training run."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


def loss_curve(history: dict[str, list[float]]) -> go.Figure:
    fig = go.Figure()
    for key, values in history.items():
        fig.add_trace(go.Scatter(x=np.arange(1, len(values) + 1), y=values, name=key))
    fig.update_layout(xaxis_title="epoch", yaxis_title="loss (Huber, scaled target)", height=320, margin={"t": 30})
    return fig

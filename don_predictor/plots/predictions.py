"""Figures of predictions: their distribution, intervals and verdicts, against measured values and over time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from don_predictor.plain_text import visible
from don_predictor.plots.style import (
    AGGREGATE_ABOVE,
    BACKEND_SYMBOLS,
    COLORS,
    CURVE_POINTS,
    LOG_PPB_AXIS,
    MAX_FLAGGED_MARKERS,
    MIN_LOG_PPB,
    NOT_TRUSTED,
    UNTRUSTED_MARKER,
    VERDICT_COLORS,
    VERDICT_LABELS,
    identity_line,
    log_log,
    most_common,
    scatter_type,
    translucent,
)
from don_predictor.services.drift import trusted


def prediction_histogram(
    predictions: dict[str, np.ndarray],
    limit_ppb: float,
    trusted: dict[str, np.ndarray] | None = None,
) -> go.Figure:
    """Distribution of predictions on a log axis, one colour per backend, the limit as a line. With `trusted` (per
    backend, a row mask as scoring.frame_views.trusted_rows gives), only the trusted predictions are counted and each
    trace's name says how many were left out (see left_out_note for the caption)."""
    fig = go.Figure()
    for name, ppb in predictions.items():
        ppb = np.asarray(ppb, float)
        label = name
        if trusted is not None and name in trusted:
            scored = int(np.isfinite(ppb).sum())
            ppb = ppb[np.asarray(trusted[name], bool)]
            left_out = scored - int(np.isfinite(ppb).sum())
            label = f"{name} (trusted only; {left_out:,} left out)" if left_out else name
        ppb = ppb[np.isfinite(ppb)]
        fig.add_trace(
            go.Histogram(
                x=np.log10(np.maximum(ppb, MIN_LOG_PPB)), name=label, marker_color=COLORS.get(name), opacity=0.7
            )
        )
    if trusted is not None and not any(len(trace.x) for trace in fig.data):
        fig.add_annotation(
            text="no trusted prediction to draw", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5
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


def left_out_note(scored: int, trusted: int, what: str = "chart", marked: bool = False) -> str | None:
    """The caption under a chart of trusted predictions only (or, `marked`, one drawing the others grey and
    hollow): how many predictions are not trusted; None when all are."""
    left_out = scored - trusted
    if left_out <= 0:
        return None
    if marked:
        return (
            f"{left_out:,} of {scored:,} predictions in the {what} lie outside the calibration domain: they are not "
            "trusted and drawn as grey hollow markers."
        )
    return (
        f"The {what} shows the {trusted:,} trusted predictions only: {left_out:,} of {scored:,} scored spectra lie "
        "outside the calibration domain and are left out (their predictions are not trusted)."
    )


def actual_vs_predicted(
    actual: np.ndarray,
    predictions: dict[str, np.ndarray],
    ids: list[str],
    trusted: dict[str, np.ndarray] | None = None,
) -> go.Figure:
    """Measured against predicted on log axes. With `trusted` (per backend, a row mask), the untrusted predictions
    are drawn apart as grey hollow markers labelled "not trusted (outside the domain)"."""
    fig = go.Figure()
    finite = np.isfinite(actual)
    ids = np.asarray([visible(i) for i in ids])  # hidden characters escaped: "lot\u202efdp.exe" read reversed
    for name, ppb in predictions.items():
        ppb = np.asarray(ppb, float)
        keep = finite & np.isfinite(ppb)
        mask = np.ones(len(ppb), bool) if trusted is None or name not in trusted else np.asarray(trusted[name], bool)
        for part, shown, marker in (
            (keep & mask, name, {"color": COLORS.get(name), "opacity": 0.7}),
            (keep & ~mask, f"{name} {VERDICT_LABELS[NOT_TRUSTED]}", UNTRUSTED_MARKER),
        ):
            if shown != name and not part.any():
                continue
            fig.add_trace(
                scatter_type(int(part.sum()))(
                    x=np.maximum(actual[part], MIN_LOG_PPB),
                    y=np.maximum(ppb[part], MIN_LOG_PPB),
                    mode="markers",
                    name=shown,
                    text=ids[part],
                    marker=marker,
                )
            )
    identity_line(fig, actual[finite])
    return log_log(fig, "measured DON (ppb)", "predicted DON (ppb)")


def compare_scatter(
    rf_ppb: np.ndarray, tf_ppb: np.ndarray, ids: list[str], trusted: np.ndarray | None = None
) -> go.Figure:
    """TF against RF per sample. With `trusted` (a row mask: both models trust the sample), the others are drawn
    as grey hollow markers labelled "not trusted (outside the domain)"."""
    keep = np.isfinite(rf_ppb) & np.isfinite(tf_ppb)
    mask = np.ones(len(keep), bool) if trusted is None else np.asarray(trusted, bool)
    ids = np.asarray([visible(i) for i in ids])  # hidden characters escaped: "lot\u202efdp.exe" read reversed
    fig = go.Figure()
    for part, shown, marker in (
        (keep & mask, "samples", {"color": COLORS["tf"], "opacity": 0.7}),
        (keep & ~mask, VERDICT_LABELS[NOT_TRUSTED], UNTRUSTED_MARKER),
    ):
        if shown != "samples" and not part.any():
            continue
        fig.add_trace(
            scatter_type(int(part.sum()))(
                x=np.maximum(rf_ppb[part], MIN_LOG_PPB),
                y=np.maximum(tf_ppb[part], MIN_LOG_PPB),
                mode="markers",
                text=ids[part],
                name=shown,
                marker=marker,
            )
        )
    identity_line(fig, np.concatenate([rf_ppb[keep], tf_ppb[keep]]))
    return log_log(fig, "RandomForest (ppb)", "TensorFlow (ppb)")


def verdict_classes(verdict: np.ndarray, in_domain: np.ndarray | None) -> np.ndarray:
    """Per row, what its marker says: `below`, `send_to_lab`, `above`, NOT_TRUSTED (outside the calibration domain,
    whatever its verdict) or "" (not scored)."""
    classes = np.asarray(verdict, dtype=object).copy()
    classes[pd.isna(classes)] = ""
    if in_domain is not None:
        classes[~np.asarray(in_domain, bool) & (classes != "")] = NOT_TRUSTED
    return classes


def intervals_figure(
    ids: list[str],
    predictions: dict[str, dict[str, np.ndarray]],
    limit_ppb: float,
    limit_label: str,
    verdicts: dict[str, np.ndarray] | None = None,
) -> go.Figure:
    """Each sample's prediction with its interval as an error bar, sorted by the first backend; the limit as a
    horizontal line. With `verdicts` (per backend, the `<b>_verdict` column), each point is coloured by its verdict
    (below / send to lab / above) and the untrusted ones (outside the domain) are grey and hollow, with a legend;
    without, one colour per backend and out-of-domain samples as crosses. Above AGGREGATE_ABOVE samples: the sorted
    predictions as a band (see sorted_band_figure)."""
    n_scored = int(np.isfinite(next(iter(predictions.values()))["ppb"]).sum())
    if n_scored > AGGREGATE_ABOVE:
        return sorted_band_figure(predictions, limit_ppb, limit_label, verdicts)
    fig = go.Figure()
    first = next(iter(predictions.values()))["ppb"]
    order = np.argsort(np.nan_to_num(first, nan=-1.0))
    order = order[np.isfinite(first[order])]
    x = np.asarray([visible(i) for i in ids])[order]
    for index, (name, scored) in enumerate(predictions.items()):
        ppb = np.maximum(scored["ppb"][order], MIN_LOG_PPB)
        low = high = None
        if "low_ppb" in scored:
            low = np.maximum(scored["low_ppb"][order], MIN_LOG_PPB)
            high = np.maximum(scored["high_ppb"][order], MIN_LOG_PPB)
        in_domain = scored.get("in_domain")
        if verdicts is None or name not in verdicts:
            symbols = "circle" if in_domain is None else np.where(in_domain[order], "circle", "x")
            marker = {"color": COLORS.get(name), "symbol": symbols, "size": 7}
            fig.add_trace(_interval_trace(x, ppb, low, high, name, marker, slice(None)))
            continue
        classes = verdict_classes(verdicts[name], in_domain)[order]
        symbol = BACKEND_SYMBOLS[index % len(BACKEND_SYMBOLS)]
        for verdict, color in VERDICT_COLORS.items():
            part = classes == verdict
            if not part.any():
                continue
            hollow = verdict == NOT_TRUSTED
            marker = {"color": color, "symbol": f"{symbol}-open" if hollow else symbol, "size": 7}
            label = VERDICT_LABELS[verdict] if len(predictions) == 1 else f"{name}: {VERDICT_LABELS[verdict]}"
            fig.add_trace(_interval_trace(x, ppb, low, high, label, marker, part))
    fig.add_hline(y=limit_ppb, line={"color": COLORS["limit"], "dash": "dash"}, annotation_text=limit_label)
    fig.update_layout(
        xaxis={
            "title": "sample (sorted by prediction)",
            "showticklabels": len(x) <= 60,
            # traces per verdict hold parts of the samples: the axis keeps the sorted order, not the traces' order
            "categoryorder": "array",
            "categoryarray": x,
        },
        yaxis={"title": "DON (ppb), 90 % interval", **LOG_PPB_AXIS},
        height=420,
        margin={"t": 30},
    )
    return fig


def _interval_trace(x, ppb, low, high, name: str, marker: dict, part) -> go.Scatter:
    error = None
    if low is not None:
        error = {
            "type": "data",
            "symmetric": False,
            "array": (high - ppb)[part],
            "arrayminus": (ppb - low)[part],
            "thickness": 1,
            "color": marker["color"] if isinstance(marker["color"], str) else None,
        }
    return go.Scatter(x=x[part], y=ppb[part], error_y=error, mode="markers", name=name, marker=marker)


def sorted_band_figure(
    predictions: dict[str, dict[str, np.ndarray]],
    limit_ppb: float,
    limit_label: str,
    verdicts: dict[str, np.ndarray] | None = None,
) -> go.Figure:
    """Many samples at once: per backend, the predictions sorted from lowest to highest against the share of
    samples (a quantile curve), the median 90 % interval of the samples around each point as a shaded envelope,
    and the untrusted samples (outside the domain) as grey crosses on the curve. Where the curve crosses the limit
    reads as "this share is predicted below". With `verdicts`, each point of the curve is coloured by the most
    common verdict of its samples (grey when most are not trusted). The sorted samples are summarised in
    CURVE_POINTS groups, so the chart weighs the same for a thousand samples or a million."""
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
                    fillcolor=translucent(color),
                )
            )
        curve = np.maximum(np.array([np.median(ppb[order[g]]) for g in groups]), MIN_LOG_PPB)
        fig.add_trace(go.Scatter(x=x, y=curve, name=name, line={"color": color, "width": 2}))
        in_domain = scored.get("in_domain")
        if verdicts is not None and name in verdicts:
            classes = verdict_classes(verdicts[name], in_domain)[order]
            common = np.array([most_common(classes[g]) for g in groups], dtype=object)
            for verdict, verdict_color in VERDICT_COLORS.items():
                part = common == verdict
                if part.any():
                    hollow = verdict == NOT_TRUSTED
                    fig.add_trace(
                        go.Scatter(
                            x=x[part],
                            y=curve[part],
                            mode="markers",
                            name=f"{name}: {VERDICT_LABELS[verdict]}",
                            marker={"color": verdict_color, "symbol": "circle-open" if hollow else "circle", "size": 5},
                        )
                    )
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
                        name=f"{name} {VERDICT_LABELS[NOT_TRUSTED]}",
                        marker={"color": VERDICT_COLORS[NOT_TRUSTED], "symbol": "x", "size": 6},
                    )
                )
    fig.add_hline(y=limit_ppb, line={"color": COLORS["limit"], "dash": "dash"}, annotation_text=limit_label)
    fig.update_layout(
        xaxis={"title": "share of samples, sorted by prediction (%)", "range": [0, 100]},
        yaxis={"title": "DON (ppb), 90 % interval", **LOG_PPB_AXIS},
        height=420,
        margin={"t": 30},
    )
    return fig


def predictions_over_time_figure(points: pd.DataFrame) -> go.Figure:
    """History's plot over time (store.history.predictions_over_time): one strip of points per run time, one colour
    per model; the untrusted predictions (outside the calibration domain) grey and hollow, labelled so, never in a
    model's colour."""
    shown = points.assign(ppb=points["ppb"].clip(lower=MIN_LOG_PPB))  # zeros cannot sit on a log axis
    keep = trusted(shown)  # the rule of trust.screening, on one row per sample and backend
    shown["shown"] = np.where(keep, shown["model"], "not trusted (outside the domain)")
    colors = {model: COLORS.get(str(model).lower(), COLORS["mean"]) for model in shown["model"].unique()}
    fig = go.Figure()
    for label, part in shown.groupby("shown", sort=False):
        untrusted = label not in colors
        fig.add_trace(
            scatter_type(len(part))(
                x=part["time"],
                y=part["ppb"],
                mode="markers",
                name=str(label),
                text=part["sample_id"].astype(str) + (" · " + part["model"].astype(str) if untrusted else ""),
                marker=UNTRUSTED_MARKER if untrusted else {"color": colors[label], "opacity": 0.7, "size": 6},
            )
        )
    fig.update_layout(
        yaxis={"title": "predicted DON (ppb)", **LOG_PPB_AXIS}, xaxis_title=None, height=380, margin={"t": 30}
    )
    return fig

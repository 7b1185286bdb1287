"""How far to trust a model version, from what its training measured: CV accuracy, interval coverage, domain."""

from __future__ import annotations

import streamlit as st

from don_predictor.modeling.quality import DEFAULT_LIMIT_PPB, headline, measured_limit, screening_at
from don_predictor.store.registry import ModelVersion
from don_predictor.trust.domain import DOMAIN_FALSE_FLAG_RATE


def _rate(value: float, form: str = "{:.1%}") -> str:
    return "—" if value != value else form.format(value)  # NaN: not defined (no sample on one side)


def model_quality_panel(version: ModelVersion, current_limit_ppb: float = DEFAULT_LIMIT_PPB) -> None:
    cv = version.cv_metrics
    metrics = cv.get("metrics")
    if not metrics:
        st.caption("This version was trained without cross-validation: no accuracy figures and no intervals.")
        return

    def mean(key: str) -> float:
        return metrics.get(key, {}).get("mean", float("nan"))

    limit_ppb = measured_limit(cv, current_limit_ppb)
    title = f"How good is this model? It {headline(cv, limit_ppb)}"
    with st.expander(title):
        st.caption(
            f"{cv.get('folds')}-fold cross-validation, {cv.get('repeats')} repeat(s), on its "
            f"{version.manifest.get('n_rows')} training rows: every sample predicted by a model that never saw it, "
            "and decided by thresholds calibrated without it."
        )
        figures = screening_at(cv, limit_ppb)
        if figures is not None:
            c1, c2, c3 = st.columns(3)
            c1.metric(f"decided at {limit_ppb:,.0f} ppb", f"{figures['decided']:.0%}")
            c2.metric("cleared (below)", f"{figures['cleared']:.0%}")
            c3.metric("truly above cleared", _rate(figures["false_compliant"]))
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("MAE", f"{mean('mae_ppb'):,.0f} ppb")
        c2.metric("median error", f"{mean('median_ae_ppb'):,.0f} ppb")
        c3.metric(f"ROC AUC > {limit_ppb:,.0f} ppb", _rate(figures["auc"], "{:.2f}") if figures else "—")
        c4.metric("R² (ppb)", f"{mean('r2'):.2f}")
        intervals = version.manifest.get("intervals") or {}
        if "coverage" in intervals:
            st.markdown(
                f"**Intervals**: the {intervals['level']:.0%} intervals held the measured value for "
                f"{intervals['coverage']:.1%} of held-out samples (median width "
                f"{intervals['median_width_ppb']:,.0f} ppb)."
            )
        st.markdown(
            f"**Applicability domain**: by design about {DOMAIN_FALSE_FLAG_RATE:.1%} of genuine new spectra are "
            "flagged; a spectrum outside it (unusual shape, noise, clipping, a shifted baseline) gets no verdict."
        )

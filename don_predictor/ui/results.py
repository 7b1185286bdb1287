"""Result tables, summary metrics and downloads shared by the prediction pages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from don_predictor.config import SCREENING_LIMIT_PPB
from don_predictor.evaluation import regression_metrics
from don_predictor.limits import ABOVE, BELOW, SEND_TO_LAB, Limit
from don_predictor.predict import results_csv


def with_ppm(results: pd.DataFrame, backends: list[str]) -> pd.DataFrame:
    """The results with a ppm column after each ppb column, for reading at a glance."""
    shown = results.copy()
    for backend in backends:
        position = shown.columns.get_loc(f"{backend}_ppb") + 1
        shown.insert(position, f"{backend}_ppm", shown[f"{backend}_ppb"] / 1000.0)
    return shown


def results_table(results: pd.DataFrame, backends: list[str]) -> None:
    column_config = {}
    for backend in backends:
        column_config[f"{backend}_ppb"] = st.column_config.NumberColumn(f"{backend.upper()} (ppb)", format="%.0f")
        column_config[f"{backend}_ppm"] = st.column_config.NumberColumn(f"{backend.upper()} (ppm)", format="%.2f")
        column_config[f"{backend}_low_ppb"] = st.column_config.NumberColumn(f"{backend.upper()} low", format="%.0f")
        column_config[f"{backend}_high_ppb"] = st.column_config.NumberColumn(f"{backend.upper()} high", format="%.0f")
        column_config[f"{backend}_in_domain"] = st.column_config.CheckboxColumn(f"{backend.upper()} in domain")
        column_config[f"{backend}_verdict"] = st.column_config.TextColumn(f"{backend.upper()} verdict")
        column_config[f"{backend}_t2"] = st.column_config.NumberColumn(f"{backend.upper()} T²", format="%.1f")
        column_config[f"{backend}_q"] = st.column_config.NumberColumn(f"{backend.upper()} Q", format="%.4f")
        column_config[f"{backend}_baseline"] = st.column_config.NumberColumn(
            f"{backend.upper()} baseline", format="%+.1f", help="Baseline-offset statistic, in standard deviations"
        )
    st.dataframe(with_ppm(results, backends), hide_index=True, width="stretch", column_config=column_config)


def summary_metrics(ppb: np.ndarray, limit_ppb: float = SCREENING_LIMIT_PPB) -> None:
    scored = ppb[np.isfinite(ppb)]
    cols = st.columns(4)
    cols[0].metric("samples scored", len(scored))
    cols[1].metric("median", f"{np.median(scored):,.0f} ppb" if len(scored) else "—")
    cols[2].metric("highest", f"{scored.max():,.0f} ppb" if len(scored) else "—")
    above = int((scored > limit_ppb).sum())
    cols[3].metric(f"above {limit_ppb:,.0f} ppb", f"{above} ({above / len(scored):.0%})" if len(scored) else "—")


def accuracy_metrics(actual: np.ndarray, predictions: dict[str, np.ndarray]) -> None:
    """R², RMSE, MAE per backend on the rows that carry a measured value."""
    rows = []
    for backend, ppb in predictions.items():
        keep = np.isfinite(actual) & np.isfinite(ppb)
        if keep.sum() < 2:
            continue
        m = regression_metrics(actual[keep], ppb[keep])
        rows.append(
            {
                "model": backend.upper(),
                "rows": int(keep.sum()),
                "R²": m["r2"],
                "R² (log)": m["r2_log"],
                "RMSE (ppb)": m["rmse_ppb"],
                "MAE (ppb)": m["mae_ppb"],
                "bias (ppb)": m["bias_ppb"],
            }
        )
    if rows:
        st.dataframe(
            pd.DataFrame(rows)
            .style.format(precision=3, subset=["R²", "R² (log)"])
            .format("{:,.0f}", subset=["RMSE (ppb)", "MAE (ppb)", "bias (ppb)"]),
            hide_index=True,
        )


def download_results(results: pd.DataFrame, upload_name: str, suffix: str) -> None:
    stem = Path(upload_name).stem or "spectra"
    st.download_button(
        "Download results (CSV)",
        data=results_csv(results),
        file_name=f"{stem}_{suffix}.csv",
        mime="text/csv",
        key=f"download_{suffix}",
        type="primary",
    )


def verdict_summary(results: pd.DataFrame, backends: list[str], limit: Limit) -> None:
    """Counts of below / send_to_lab / above per backend, and how many spectra were out of domain."""
    rows = []
    for backend in backends:
        if f"{backend}_verdict" not in results:
            continue
        counts = results[f"{backend}_verdict"].value_counts()
        out_of_domain = int((results[f"{backend}_in_domain"] == False).sum())  # noqa: E712 (NA stays NA)
        rows.append(
            {
                "model": backend.upper(),
                "below": int(counts.get(BELOW, 0)),
                "send_to_lab": int(counts.get(SEND_TO_LAB, 0)),
                "above": int(counts.get(ABOVE, 0)),
                "out of domain": out_of_domain,
            }
        )
    if not rows:
        st.caption("These models carry no calibrated intervals (trained without cross-validation): no verdicts.")
        return
    st.markdown(f"**Verdicts against {limit.label}** · source: {limit.source}")
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    if any(r["out of domain"] for r in rows):
        st.warning(
            "Some spectra lie outside the calibration domain (Hotelling T², Q residual or baseline statistic above "
            "its limit): their predictions are not trusted and their verdict is send_to_lab. A large baseline "
            "value on many rows usually means the instrument's white or dark reference needs redoing."
        )


def trust_columns(results: pd.DataFrame, backend: str) -> dict[str, np.ndarray]:
    """One backend's prediction, interval and domain flag as arrays, for the charts."""
    scored = {"ppb": results[f"{backend}_ppb"].to_numpy(dtype=float)}
    if f"{backend}_low_ppb" in results:
        scored["low_ppb"] = results[f"{backend}_low_ppb"].to_numpy(dtype=float)
        scored["high_ppb"] = results[f"{backend}_high_ppb"].to_numpy(dtype=float)
    if f"{backend}_in_domain" in results:
        scored["in_domain"] = results[f"{backend}_in_domain"].fillna(False).to_numpy(dtype=bool)
    return scored

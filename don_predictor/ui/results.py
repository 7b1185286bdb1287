"""Result tables, summary metrics and downloads shared by the prediction pages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from don_predictor.config import settings
from don_predictor.modeling.evaluation import regression_metrics
from don_predictor.plain_text import markdown_literal, visible_text
from don_predictor.scoring.frame_views import lot_summary, trusted_ppb, trusted_rows, verdict_counts
from don_predictor.scoring.run import Lots
from don_predictor.services.exports import (
    ROW_COLUMN,
    csv_bytes,
    file_names,
    lots_file,
    report_html,
    with_row_numbers,
    workbook_bytes,
)
from don_predictor.services.results_csv import results_csv
from don_predictor.services.run_metadata import run_metadata
from don_predictor.store.governance import DEMO_MODEL_NOTE, is_demo, out_of_domain_advice
from don_predictor.store.registry import RegistryError
from don_predictor.trust.limits import Limit, custom_limit
from don_predictor.trust.screening import ABOVE, BELOW, SEND_TO_LAB, Thresholds, percent
from don_predictor.ui.frame import current_limit
from don_predictor.ui.model_cache import registry
from don_predictor.ui.recording import scoring_time


def with_ppm(results: pd.DataFrame, backends: list[str]) -> pd.DataFrame:
    """The results for reading at a glance: a ppm column after each ppb column, and each backend's verdict right
    after its prediction (the joint verdict, on Compare, right after the status)."""
    shown = results.copy()
    for backend in backends:
        position = shown.columns.get_loc(f"{backend}_ppb") + 1
        shown.insert(position, f"{backend}_ppm", shown[f"{backend}_ppb"] / 1000.0)
        if f"{backend}_verdict" in shown:
            shown.insert(position + 1, f"{backend}_verdict", shown.pop(f"{backend}_verdict"))
    if "both_verdict" in shown:
        shown.insert(shown.columns.get_loc("status") + 1, "both_verdict", shown.pop("both_verdict"))
    return shown


PAGE_ROWS = 500  # above this many rows the table pages: the browser gets a page, the download every row
FILTER_ROWS = 10  # about what the table shows without scrolling: above it, a filter finds the samples to act on
TABLE_FILTERS = ("all rows", "not cleared", "outside the domain", "not scored")


def results_table(results: pd.DataFrame, backends: list[str]) -> None:
    """The results on the page; when an id appears more than once, its data row first (`row`, as in the upload's
    warning and the downloads) so the repeated ids' rows can be told apart."""
    shown = visible_text(with_ppm(with_row_numbers(results), backends))  # ids and lots: hidden characters shown
    if len(shown) > FILTER_ROWS:
        shown = page_of(shown, backends, key="_".join(backends))
    column_config = {
        "both_verdict": st.column_config.TextColumn("BOTH verdict", help="below or above only when both agree"),
        ROW_COLUMN: st.column_config.NumberColumn(
            "row", format="%d", help="The data row in the upload (1 = the first under the header): ids repeat"
        ),
    }
    for backend in backends:
        column_config[f"{backend}_ppb"] = st.column_config.NumberColumn(f"{backend.upper()} (ppb)", format="%.0f")
        column_config[f"{backend}_ppm"] = st.column_config.NumberColumn(f"{backend.upper()} (ppm)", format="%.2f")
        column_config[f"{backend}_low_ppb"] = st.column_config.NumberColumn(f"{backend.upper()} low", format="%.0f")
        column_config[f"{backend}_high_ppb"] = st.column_config.NumberColumn(f"{backend.upper()} high", format="%.0f")
        column_config[f"{backend}_in_domain"] = st.column_config.CheckboxColumn(f"{backend.upper()} in domain")
        column_config[f"{backend}_verdict"] = st.column_config.TextColumn(f"{backend.upper()} verdict")
        column_config[f"{backend}_verdict_reason"] = st.column_config.TextColumn(f"{backend.upper()} why")
        column_config[f"{backend}_t2"] = st.column_config.NumberColumn(f"{backend.upper()} T²", format="%.1f")
        column_config[f"{backend}_q"] = st.column_config.NumberColumn(f"{backend.upper()} Q", format="%.4f")
        column_config[f"{backend}_baseline"] = st.column_config.NumberColumn(
            f"{backend.upper()} baseline", format="%+.1f", help="Baseline-offset statistic, in standard deviations"
        )
    st.dataframe(shown, hide_index=True, width="stretch", column_config=column_config)


def rows_matching(results: pd.DataFrame, backends: list[str], which: str) -> pd.Series:
    """Which rows a table filter keeps: not cleared (above or send_to_lab by any model), outside the domain (by
    any model), not scored, or all."""
    if which == "not cleared":
        columns = [results[f"{b}_verdict"].isin([ABOVE, SEND_TO_LAB]) for b in backends if f"{b}_verdict" in results]
    elif which == "outside the domain":
        columns = [results[f"{b}_in_domain"].eq(False).fillna(False) for b in backends if f"{b}_in_domain" in results]
    elif which == "not scored":
        columns = [results["status"].ne("ok")]
    else:
        return pd.Series(True, index=results.index)
    return pd.concat(columns, axis=1).any(axis=1) if columns else pd.Series(False, index=results.index)


def page_of(results: pd.DataFrame, backends: list[str], key: str) -> pd.DataFrame:
    """A filter above the table and, for a long one, a page number; returns the rows to show."""
    left, right = st.columns([3, 1])
    which = left.radio("Show", TABLE_FILTERS, horizontal=True, key=f"{key}_table_filter")
    selected = results[rows_matching(results, backends, which)]
    if len(results) <= PAGE_ROWS:
        st.caption(
            f"{len(selected):,} of {len(results):,} rows ({which})." if len(selected) else f"No rows: none is {which}."
        )
        return selected
    pages = max(1, -(-len(selected) // PAGE_ROWS))
    page = right.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, value=1, key=f"{key}_table_page")
    first = (min(int(page), pages) - 1) * PAGE_ROWS
    last = min(first + PAGE_ROWS, len(selected))
    st.caption(
        f"Rows {first + 1:,}–{last:,} of {len(selected):,} ({which}, of {len(results):,} in the file). "
        "The downloads hold every row."
        if len(selected)
        else f"No rows: none is {which}."
    )
    return selected.iloc[first:last]


def summary_metrics(results: pd.DataFrame, backend: str) -> None:
    """Median and highest prediction of the trusted (in-domain) spectra only, and how many were left out."""
    trusted = trusted_ppb(results, backend)
    scored = int(results[f"{backend}_ppb"].notna().sum())
    cols = st.columns(4)
    cols[0].metric("samples scored", scored)
    cols[1].metric("in the calibration domain", len(trusted))
    cols[2].metric("median (in domain)", f"{np.median(trusted):,.0f} ppb" if len(trusted) else "—")
    cols[3].metric("highest (in domain)", f"{trusted.max():,.0f} ppb" if len(trusted) else "—")
    if scored > len(trusted):
        st.caption(
            f"{scored - len(trusted)} of {scored} predictions come from spectra outside the calibration domain: they "
            "are listed in the table (in domain: false) but left out of these figures, because they are not trusted."
        )


def sample_call(results: pd.DataFrame, backend: str, row: int, label: str) -> None:
    """One sample's call by one model: its prediction and interval only when the model trusts it; otherwise why
    not (not scored, or outside the calibration domain) and the verdict that follows."""
    status = results["status"].iloc[row]
    verdict = results[f"{backend}_verdict"].iloc[row] if f"{backend}_verdict" in results else None
    if status != "ok":
        st.metric(label, "not scored")
        st.caption(f"{markdown_literal(status)}: fix the row or rescan the sample, or test it in the lab.")
        return
    ppb = float(results[f"{backend}_ppb"].iloc[row])
    if not trusted_rows(results, backend)[row]:
        st.metric(label, "not trusted")
        st.caption(
            f"The spectrum lies outside this model's calibration domain: its {ppb:,.0f} ppb is not trusted. "
            f"Verdict: **{verdict or SEND_TO_LAB}**."
        )
        return
    st.metric(label, f"{ppb:,.0f} ppb")
    parts = []
    if f"{backend}_low_ppb" in results:
        low, high = results[f"{backend}_low_ppb"].iloc[row], results[f"{backend}_high_ppb"].iloc[row]
        parts.append(f"90 % interval {low:,.0f}–{high:,.0f} ppb")
    if verdict:
        reason = results[f"{backend}_verdict_reason"].iloc[row]
        parts.append(f"verdict **{verdict}** ({markdown_literal(reason)})")
    if parts:
        st.caption(" · ".join(parts))


def in_sample_warning(counts: dict[str, int | None], n_scored: int, versions: dict) -> None:
    """Warn when uploaded rows were part of a model's training data, with or without measured values: predictions
    and verdicts on those rows are in-sample and look better than on new samples. With the cross-validated figures
    beside (every sample predicted by a model that never saw it)."""
    for backend, count in counts.items():
        if not count:
            continue
        r2, mae = versions[backend].cv_mean("r2"), versions[backend].cv_mean("mae_ppb")
        cv = (
            f" Its cross-validated figures (every sample predicted by a model that never saw it): MAE {mae:,.0f} ppb, "
            f"R² {r2:.2f}."
            if r2 is not None and mae is not None
            else ""
        )
        st.warning(
            f"{count} of {n_scored} uploaded spectra were part of the {backend.upper()} model's training data: its "
            f"predictions, verdicts and any accuracy figures for those rows are in-sample and flatter the model.{cv}"
        )


def accuracy_metrics(actual: np.ndarray, predictions: dict[str, np.ndarray]) -> None:
    """R², RMSE, MAE per backend on the rows that carry a measured value and a prediction (pass the untrusted
    predictions as NaN: scoring.frame_views.untrusted_as_nan)."""
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
        st.caption("Rows: the samples with a measured value whose prediction the model trusts (in its domain).")
    else:
        st.caption("Too few samples with a measured value and a trusted prediction (in the domain) to compare.")


def run_details(upload, limit: Limit, versions: dict[str, str], thresholds: dict[str, Thresholds | None]) -> dict:
    """What produced this page's results (services.run_metadata) for the downloads, dated with the run's scoring
    time as the history records it (recording.scoring_time), not the time of this rerun: each download click reruns
    the page, and every file of one run must carry the same time."""
    metadata = run_metadata(
        limit_key=limit.key,
        limit_label=limit.label,
        limit_ppb=limit.ppb,
        risk=settings().risk,
        versions=versions,
        data_name=upload.name,
        data_sha256=upload.sha256,
        thresholds=thresholds,
    )
    metadata["created_utc"] = scoring_time(upload.sha256, versions, limit.key)
    demo = {b: DEMO_MODEL_NOTE for b, v in versions.items() if _is_demo_version(b, v)}
    if demo:  # the downloads say so too: their verdicts say nothing about real samples
        metadata["demo_models"] = demo
    return metadata


def _is_demo_version(backend: str, version: str) -> bool:
    try:
        return is_demo(registry().get(backend, version))
    except RegistryError:  # a version no longer in the registry: its manifest cannot say
        return False


def download_results(
    results: pd.DataFrame,
    upload_name: str,
    suffix: str,
    metadata: dict,
    lots: Lots | None = None,
    measured: np.ndarray | None = None,
) -> None:
    """The run as files a lab keeps: results (CSV, ppb to the unit, the measured value when uploaded, a `row`
    column first when ids repeat), the lot table (from `lots`, the run's Decisions.lots) naming every deciding
    sample, the run's details (JSON: limit, risk levels, model versions, date, input hash, thresholds), an Excel
    workbook with all three, and a one-page printable report. Files are built on click, not on every rerun; all
    carry `metadata`'s one time (run_details)."""
    names = file_names(upload_name, suffix)
    backends = [b for b in metadata.get("model_versions", {}) if f"{b}_ppb" in results]
    cols = st.columns(5)
    cols[0].download_button(
        "Results (CSV)",
        data=lambda: csv_bytes(results, measured),
        file_name=names["csv"],
        mime="text/csv",
        key=f"download_{suffix}",
        type="primary",
        on_click="ignore",
    )
    if lots is not None and not lots.table().empty:
        cols[1].download_button(
            "Lots (CSV)",
            data=lambda: results_csv(lots_file(lots)),  # every deciding sample named, not the page's few
            file_name=names["lots"],
            mime="text/csv",
            key=f"download_{suffix}_lots",
            on_click="ignore",
        )
    cols[2].download_button(
        "Run details (JSON)",
        data=json.dumps(metadata, indent=1).encode("utf-8"),
        file_name=names["json"],
        mime="application/json",
        key=f"download_{suffix}_meta",
    )
    cols[3].download_button(
        "Workbook (Excel)",
        data=lambda: workbook_bytes(results, lots_file(lots), metadata, measured),
        file_name=names["xlsx"],
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"download_{suffix}_xlsx",
        on_click="ignore",
    )
    cols[4].download_button(
        "Printable report",
        data=lambda: report_html(results, lots, metadata, backends, measured).encode("utf-8"),
        file_name=names["html"],
        mime="text/html",
        key=f"download_{suffix}_report",
        on_click="ignore",
        help="One page: limit, risk levels, models, verdict counts, lots and the samples not cleared. "
        "Open it in a browser and print it.",
    )


INTERVALS_AND_VERDICTS = (
    "**Intervals and verdicts.** The interval (low – high) is for the number: the range that holds the true value "
    "for about 90 % of samples. The verdict comes from the screening engine: it compares the prediction with "
    "thresholds calibrated on the model's cross-validated predictions of its training samples, so that at most "
    "{alpha} of truly-above samples are cleared (`below`) and at most {beta} of truly-below ones are called "
    "`above`. A `below` sample's interval may still reach over the limit: the guarantee is about how many "
    "contaminated samples get cleared, not about each interval. `send_to_lab`: confirm with a reference method."
)


def chosen_limit(key: str) -> Limit:
    """The sidebar's limit, or a limit of the user's own typed on the page (in ppb)."""
    typed = st.number_input(
        "Or screen against a limit of your own (ppb; 0 = the sidebar's limit)",
        min_value=0,
        max_value=1_000_000,
        value=0,
        step=100,
        key=f"{key}_custom_limit_ppb",
        help="0 keeps the limit chosen in the sidebar. Verdicts are calibrated for any value.",
    )
    return custom_limit(typed) if typed else current_limit()


def verdict_summary(
    results: pd.DataFrame,
    backends: list[str],
    limit: Limit,
    thresholds: dict[str, Thresholds | None],
    lots: Lots | None = None,
    demo: frozenset[str] = frozenset(),
) -> None:
    """The page's lead: the lot table (`lots`, the run's Decisions.lots, when the file has lots), the verdict
    counts per backend, what the calibration cannot decide at this limit, and how many spectra were out of domain
    (`demo`: the backends whose active model is a demo model)."""
    risk = settings().risk
    st.subheader(f"Verdicts against {limit.label}")
    st.caption(f"Source: {limit.source} · risk levels: {risk.label}")
    counts = verdict_counts(results, backends)
    if counts.empty:
        st.caption("These models carry no calibration (trained without cross-validation): no verdicts.")
        return
    table = lots.table() if lots is not None else None
    if table is not None and not table.empty:
        st.markdown(f"**Lots** · {lot_summary(table, backends[0])} ({backends[0].upper()})")
        st.caption("A lot is `above` if any sample is, `below` only if all are, else `send_to_lab`.")
        st.dataframe(readable_lots(table), hide_index=True, width="stretch")
        st.markdown("**Samples**")
        if without := lots.without_lot:
            rows = "1 row has" if without == 1 else f"{without} rows have"
            st.warning(f"{rows} an empty {lots.column} cell: in no lot's verdict (their own verdicts are below).")
    if len(counts) == 1:
        row = counts.iloc[0]
        # Four counts that add up to the rows; the spectra outside the domain are part of "send to lab".
        cols = st.columns(4)
        cols[0].metric("below", int(row[BELOW]))
        cols[1].metric(
            "send to lab", int(row[SEND_TO_LAB]), help="includes every spectrum outside the calibration domain"
        )
        cols[2].metric("above", int(row[ABOVE]))
        cols[3].metric(
            "not scored", int(row["not_scored"]), help="rows with a problem (see above): fix or rescan, or test them"
        )
        if int(row["out_of_domain"]):
            st.caption(
                f"Of the {int(row[SEND_TO_LAB]):,} sent to the lab, {int(row['out_of_domain']):,} lie outside the "
                "calibration domain."
            )
    else:
        st.dataframe(counts.rename(columns={"out_of_domain": "of which outside the domain"}), hide_index=True)
    for backend in backends:
        t = thresholds.get(backend)
        if t is None and backend in thresholds and f"{backend}_verdict" in results:
            st.info(
                f"{backend.upper()}: this model was saved before the screening calibration; its verdicts use the "
                "older interval rule (below / above only when the whole interval is on one side), with no "
                "controlled false-compliant rate. Retrain it to get calibrated verdicts."
            )
        for note in t.notes() if t is not None else []:
            st.warning(f"{backend.upper()}: {note}. Those samples are `send_to_lab`.")
    out_of_domain = int(counts["out_of_domain"].max())
    if out_of_domain:
        scored = int(results["status"].eq("ok").sum())
        st.warning(
            f"{out_of_domain} of {scored} spectra lie outside the calibration domain (Hotelling T², Q residual or "
            "baseline statistic above its limit): their predictions are not trusted and their verdict is "
            f"send_to_lab. {out_of_domain_advice(bool(demo))}"
        )
    st.caption(INTERVALS_AND_VERDICTS.format(alpha=percent(risk.false_compliant), beta=percent(risk.false_suspect)))


def readable_lots(lots: pd.DataFrame) -> pd.DataFrame:
    """The lot table with headers a reader needs no key for: "RF lot verdict", "RF send to lab", "RF decided by"."""

    def header(column: str) -> str:
        backend, _, rest = column.partition("_")
        if column in ("lot", "samples") or not rest:
            return column
        return f"{backend.upper()} {rest.replace('_', ' ')}"

    return visible_text(lots).rename(columns={c: header(c) for c in lots.columns})


def trust_columns(results: pd.DataFrame, backend: str) -> dict[str, np.ndarray]:
    """One backend's prediction, interval and domain flag as arrays, for the charts."""
    scored = {"ppb": results[f"{backend}_ppb"].to_numpy(dtype=float)}
    if f"{backend}_low_ppb" in results:
        scored["low_ppb"] = results[f"{backend}_low_ppb"].to_numpy(dtype=float)
        scored["high_ppb"] = results[f"{backend}_high_ppb"].to_numpy(dtype=float)
    if f"{backend}_in_domain" in results:
        scored["in_domain"] = results[f"{backend}_in_domain"].fillna(False).to_numpy(dtype=bool)
    return scored

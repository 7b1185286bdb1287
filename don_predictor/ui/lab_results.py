"""The Lab results page's panel: a lab's measured DON in, matched to the screened samples, every row reported."""

from __future__ import annotations

import hashlib

import streamlit as st

from don_predictor.config import settings
from don_predictor.lab.results import (
    BAD,
    CONFLICT,
    DUPLICATE,
    RECORDED,
    UNCHANGED,
    UNMATCHED,
    LabResultsError,
    accept_results,
)
from don_predictor.plain_text import markdown_literal, visible_text
from don_predictor.services.results_csv import results_csv
from don_predictor.store.history import HistoryError
from don_predictor.ui.login import current_actor

STATUS_HELP = {
    RECORDED: "kept beside the screened sample's predictions",
    UNCHANGED: "already kept with the same value: nothing changed",
    UNMATCHED: "no screened sample has this id (or not in the named run)",
    CONFLICT: "the history holds another value for this sample: not written",
    DUPLICATE: "the same sample twice in this file with the same value: counted once",
    BAD: "a cell could not be read: see its message",
}


def lab_results_panel() -> None:
    """Upload, record (once per file: a rerun of the page records nothing twice), then the row-by-row report."""
    uploaded = st.file_uploader("Lab results CSV", type=["csv"], key="lab_results_file")
    id_column = st.text_input(
        "Sample id column",
        "",
        placeholder="hsi_id",
        help="The id column's name, when the screened upload's was not hsi_id.",
    )
    if uploaded is None:
        st.info(
            "Drop the lab's CSV: `hsi_id` (or your id column), `vomitoxin_ppb`, and optionally `method`, `date`, "
            "`uncertainty_ppb` and `run_id`. A filled-in worklist downloaded with the results is such a file."
        )
        return
    data = uploaded.getvalue()
    key = (hashlib.sha256(data).hexdigest(), id_column.strip())
    if st.button("Record these results", type="primary"):
        try:
            report = accept_results(
                settings().history_db, data, uploaded.name, current_actor(), id_column.strip() or None
            )
        except (LabResultsError, HistoryError) as error:
            st.error(f"**{markdown_literal(uploaded.name)}** was not recorded: {markdown_literal(str(error))}")
            return
        st.session_state["lab_results_report"] = (key, report)
    kept = st.session_state.get("lab_results_report")
    if kept is None or kept[0] != key:
        return
    _report(kept[1])


def _report(report) -> None:
    counts = {status: report.count(status) for status in STATUS_HELP}
    columns = st.columns(len(counts))
    for column, (status, count) in zip(columns, counts.items(), strict=True):
        column.metric(status, count, help=STATUS_HELP[status])
    name = markdown_literal(report.file_name)
    if report.matched:
        st.success(
            f"{report.matched} of {len(report.outcomes)} rows of **{name}** are kept beside their screened samples. "
            "Monitoring shows the screen verified on them; Train can add the confirmed samples to a calibration."
        )
    else:
        st.error(f"No row of **{name}** matched a screened sample in the prediction history.")
    problems = len(report.outcomes) - report.matched
    frame = report.frame()
    if problems:
        st.warning(f"{problems} rows were not kept: each says why below.")
    st.dataframe(visible_text(frame), hide_index=True, width="stretch")
    st.download_button(
        "Download this report (CSV)",
        results_csv(frame),
        file_name="lab_results_report.csv",
        mime="text/csv",
        on_click="ignore",
    )

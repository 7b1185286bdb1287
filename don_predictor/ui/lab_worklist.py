"""The run's lab worklist on a prediction page: what goes to the reference method, as CSV and as an Excel sheet a
LIMS imports. The lab fills in vomitoxin_ppb and uploads the file back on the Lab results page."""

from __future__ import annotations

import streamlit as st

from don_predictor.lab.worklist import Worklist, worklist_csv, worklist_xlsx
from don_predictor.services.exports import file_names

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def worklist_downloads(worklist: Worklist | None, upload_name: str, suffix: str, id_column: str) -> None:
    if worklist is None:  # the run was not recorded (the history could not be written): no run to match results to
        return
    confirm, verify = worklist.confirm_count, worklist.verify_count
    names = file_names(upload_name, f"{suffix}_worklist")
    st.markdown(
        f"**Lab worklist**: {confirm} samples to confirm (`send_to_lab`) and {verify} of {worklist.cleared} cleared "
        f"samples drawn at random ({worklist.verify_share:.0%}) to verify the screen. Fill in `vomitoxin_ppb` and "
        "upload the file on the Lab results page."
    )
    if not confirm + verify:
        return
    files = (
        ("Lab worklist (CSV)", worklist_csv, "csv", "text/csv", ""),
        ("Lab worklist (Excel)", worklist_xlsx, "xlsx", XLSX, "_xlsx"),
    )
    for column, (label, build, kind, mime, key) in zip(st.columns([1, 1, 3]), files, strict=False):
        column.download_button(
            label,
            data=lambda build=build: build(worklist, id_column),
            file_name=names[kind],
            mime=mime,
            key=f"download_{suffix}_worklist{key}",
            on_click="ignore",
        )

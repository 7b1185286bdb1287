import streamlit as st

from don_predictor.ui.frame import ensure_router
from don_predictor.ui.lab_results import lab_results_panel
from don_predictor.ui.login import can, explain_missing

ensure_router()
st.title("Lab results")
st.caption(
    "The reference method's values (HPLC, LC-MS/MS) for samples the screen sent to the lab or drew to verify it, "
    "matched by sample id to the newest run that scored them (or the file's run_id). Re-uploading a file changes "
    "nothing."
)
if can("lab_results"):
    lab_results_panel()
else:
    explain_missing("lab_results")

import streamlit as st

from don_predictor.ui.frame import ensure_router
from don_predictor.ui.lab_training import with_lab_confirmed
from don_predictor.ui.login import can, explain_missing
from don_predictor.ui.training_form import training_settings_form
from don_predictor.ui.training_panels import (
    blocks_training,
    current_job,
    job_progress,
    job_result,
    start_training,
    training_elsewhere,
    training_elsewhere_panel,
    versions_panel,
)
from don_predictor.ui.upload import DEMO_CALIBRATION, read_or_report, spectra_upload, validation_report

ensure_router()
st.title("Train new model versions")
st.caption(
    "The first version trained on your own file replaces a demo model at once; after that a new version is a "
    "challenger, saved beside the active one, which you review before activating."
)

job = current_job()
busy = (job is not None and job.running) or blocks_training(training_elsewhere())
training_elsewhere_panel()
if not can("train"):
    explain_missing("train")
else:
    upload = spectra_upload("train", demo_file=DEMO_CALIBRATION, label="Calibration CSV (must carry vomitoxin_ppb)")
    table = read_or_report(upload, require_target=True) if upload else None
    if table is not None:
        validation_report(table, for_training=True)
        table, data, name = with_lab_confirmed(table, upload.data, upload.name)
    settings = training_settings_form(can_start=not busy and table is not None)
    if table is None and not busy:
        st.info("Drop a calibration CSV above, or use the demo file.")
    if settings is not None and start_training(table, data, name, settings):
        st.rerun()  # the progress panel takes over

job_progress()
job_result()

st.subheader("Versions")
versions_panel()

import streamlit as st

from don_predictor.ui.frame import ensure_router
from don_predictor.ui.training_panels import (
    current_job,
    job_progress,
    new_versions_panel,
    start_training,
    versions_panel,
)
from don_predictor.ui.upload import DEMO_CALIBRATION, read_or_report, spectra_upload, validation_report

ensure_router()
st.title("Train new model versions")
st.caption("New versions are saved beside the active ones; you choose whether to activate them.")

upload = spectra_upload("train", demo_file=DEMO_CALIBRATION, label="Calibration CSV (must carry vomitoxin_ppb)")
table = read_or_report(upload, require_target=True) if upload else None
if table is not None:
    validation_report(table)

job = current_job()
busy = job is not None and job.running
with st.form("train_settings"):
    backends = st.multiselect(
        "Models", ["rf", "tf"], default=["rf", "tf"], format_func={"rf": "RandomForest", "tf": "TensorFlow"}.get
    )
    c1, c2, c3, c4 = st.columns(4)
    trees = c1.number_input("RF trees", 10, 2000, 300, step=50)
    epochs = c2.number_input("TF max epochs", 1, 2000, 300, step=50, help="Early stopping ends sooner.")
    learning_rate = c3.select_slider("TF learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], value=1e-3)
    cv_repeats = c4.number_input("CV repeats (5 folds)", 0, 5, 1, help="0 skips cross-validation: faster, no metrics.")
    submitted = st.form_submit_button("Train", type="primary", disabled=busy or table is None)
if table is None:
    st.info("Drop a calibration CSV above, or use the demo file.")
if submitted and backends and not busy:
    settings = {
        "backends": backends,
        "params": {"rf": {"n_estimators": int(trees)}, "tf": {"epochs": int(epochs), "learning_rate": learning_rate}},
        "cv_repeats": int(cv_repeats),
    }
    st.session_state.pop("train_job_shown", None)
    start_training(table, upload.data, upload.name, settings)
    st.rerun()

job_progress()
job = current_job()
if job is not None and job.state == "done":
    new_versions_panel(job)

st.subheader("Versions")
versions_panel()

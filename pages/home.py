import pandas as pd
import streamlit as st

from don_predictor.modeling.quality import DEFAULT_LIMIT_PPB, screening_at
from don_predictor.store.governance import is_demo
from don_predictor.ui.frame import ensure_router
from don_predictor.ui.model_cache import active_versions
from don_predictor.ui.upload import DEMO_UPLOAD

ensure_router()
st.title("DON Predictor")
st.markdown(
    """
Predicts **deoxynivalenol (DON, vomitoxin)** in corn, in ppb, from hyperspectral reflectance spectra, with a
RandomForest and a TensorFlow model side by side.

**What it is:** a fast screening tool. Score a lot's spectra and get a verdict per sample and per lot against a limit
(by default the EU maximum for unprocessed maize, 1,500 µg/kg = 1,500 ppb): `below`, `above` or `send_to_lab`,
calibrated so that at most 5 % of truly-above samples are cleared. Add a `lot` column to group samples into lots.
Train new model versions on your own instrument's calibration data.

**What it is not:** a reference method. Send `send_to_lab` samples to an accredited method (HPLC, LC-MS/MS).
The bundled demo data is **synthetic**; calibrate on your own spectra before relying on the numbers.
"""
)

left, right = st.columns(2)
with left:
    st.subheader("Expected CSV")
    st.markdown(
        """
- A header row; comma, semicolon or tab separated; decimal commas are fine (quoted ones too).
- UTF-8, UTF-16 or latin-1 text; an Excel workbook must be saved as CSV first.
- **Band columns** are named by a number: band indices `0..447` or wavelengths in nm.
- An **id column** (`hsi_id`, else the first text column) is optional; without one, row numbers serve.
- `vomitoxin_ppb` is optional for scoring (it adds accuracy figures) and required for training.
- Bad rows are listed with their row, id and column; the other rows are still scored.
"""
    )
    if DEMO_UPLOAD.exists():
        st.download_button("Download the example file", DEMO_UPLOAD.read_bytes(), DEMO_UPLOAD.name, "text/csv")
with right:
    st.subheader("Try it")
    st.markdown("Score the 50 synthetic demo spectra with both models on the Compare page.")
    if st.button("Try the demo data", type="primary"):
        st.session_state["compare_use_demo"] = True
        st.switch_page("pages/compare.py")

st.subheader("Active models")
versions, problems = active_versions()
rows = []
for backend, version in versions.items():
    rows.append(
        {
            "model": backend.upper(),
            "version": version.version,
            "trained": version.created[:19].replace("T", " "),
            "on": f"{version.manifest.get('data_name', '?')} ({version.manifest.get('n_rows', '?')} rows)",
            "decides at 1,500 ppb": (screening_at(version.cv_metrics, DEFAULT_LIMIT_PPB) or {}).get("decided"),
            "CV MAE (ppb)": version.cv_mean("mae_ppb"),
            "CV R²": version.cv_mean("r2"),
            "CV R² (log)": version.cv_mean("r2_log"),
            "demo model": "yes: trained on synthetic spectra" if is_demo(version) else "",
        }
    )
if rows:
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "decides at 1,500 ppb": st.column_config.NumberColumn(
                format="percent", help="Out of fold, at a 5 % false-compliant rate: samples it clears or rejects"
            ),
            "CV R²": st.column_config.NumberColumn(format="%.2f"),
            "CV R² (log)": st.column_config.NumberColumn(format="%.2f"),
            "CV MAE (ppb)": st.column_config.NumberColumn(format="%.0f"),
        },
    )
for problem in problems:
    st.warning(problem)

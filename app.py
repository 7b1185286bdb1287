"""DON Predictor: the router and frame. Pages live in pages/; logic lives in don_predictor/."""

import streamlit as st

from don_predictor.config import SettingsError
from don_predictor.ui.frame import inside_frame, sidebar, start_up
from don_predictor.ui.login import LoginConfigError, require_login

st.set_page_config(page_title="DON Predictor", page_icon=":material/grain:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/rf.py", title="RandomForest", icon=":material/forest:"),
    st.Page("pages/tf.py", title="TensorFlow", icon=":material/neurology:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/lab_results.py", title="Lab results", icon=":material/science:"),
    st.Page("pages/monitoring.py", title="Monitoring", icon=":material/query_stats:"),
    st.Page("pages/status.py", title="Status", icon=":material/monitor_heart:"),
]

try:
    start_up()
except SettingsError as error:
    st.error(f"DON Predictor cannot start: {error}")
    st.stop()
try:
    admitted = require_login()
except LoginConfigError as error:  # fail closed: a login that cannot be checked lets nobody in
    st.error(f"DON Predictor cannot start: {error}")
    st.stop()
if not admitted:
    # Only the login form. A first visit by deep link may have drawn Streamlit's own page list: hide it with CSS
    # (calling st.navigation here would rerun the script and drop the click on "Log in").
    st.html("<style>[data-testid='stSidebarNav'], [data-testid='stSidebar'] {display: none}</style>")
    st.stop()

navigation = st.navigation(PAGES)
sidebar()
with inside_frame():
    navigation.run()

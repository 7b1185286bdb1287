"""DON Predictor: the router and frame. Pages live in pages/; logic lives in don_predictor/."""

import streamlit as st

from don_predictor.ui.frame import sidebar

st.set_page_config(page_title="DON Predictor", page_icon="🌽", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("pages/rf.py", title="RandomForest", icon=":material/forest:"),
        st.Page("pages/tf.py", title="TensorFlow", icon=":material/neurology:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/status.py", title="Status", icon=":material/monitor_heart:"),
    ]
)
sidebar()
navigation.run()

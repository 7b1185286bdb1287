"""The Train page's settings form: which models, how long, and the model settings a calibrator may change."""

from __future__ import annotations

import streamlit as st

from don_predictor.modeling.backends import backend_class
from don_predictor.modeling.preprocessing import TARGET_TRANSFORMS

NETWORKS = {"mlp": "MLP (on PCA)", "cnn": "1-D CNN"}


def training_settings_form(can_start: bool) -> dict | None:
    """The settings for start_training when the user pressed Train, else None."""
    rf, tf = backend_class("rf")().get_params(), backend_class("tf")().get_params()  # the defaults
    with st.form("train_settings", enter_to_submit=False):  # Enter in a field must not start a job
        backends = st.multiselect(
            "Models", ["rf", "tf"], default=["rf", "tf"], format_func={"rf": "RandomForest", "tf": "TensorFlow"}.get
        )
        c1, c2, c3, c4 = st.columns(4)
        trees = c1.number_input("RF trees", 10, 2000, rf["n_estimators"], step=50)
        epochs = c2.number_input("TF max epochs", 1, 2000, tf["epochs"], step=50, help="Early stopping ends sooner.")
        learning_rate = c3.select_slider("TF learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], value=tf["learning_rate"])
        cv_repeats = c4.number_input("CV repeats (5 folds)", 0, 5, 1, help="0 skips cross-validation: no metrics.")
        with st.expander("Model settings (defaults: the winners on the real dev data, see the model card)"):
            c1, c2, c3, c4 = st.columns(4)
            target = c1.selectbox(
                "Target transform",
                TARGET_TRANSFORMS,
                index=TARGET_TRANSFORMS.index(rf["target_transform"]),
                help="The scale the models learn DON on: sqrt and cbrt tame the skew without blowing up high samples.",
            )
            max_features = c2.select_slider("RF features per split", [0.1, 0.3, 0.5, 1.0], value=rf["max_features"])
            network = c3.selectbox("TF network", list(NETWORKS), list(NETWORKS).index(tf["architecture"]), NETWORKS.get)
            members = c4.number_input(
                "TF ensemble members",
                1,
                10,
                tf["ensemble_size"],
                help="Networks trained side by side from different seeds; their spread sets each interval's width.",
            )
        submitted = st.form_submit_button("Train", type="primary", disabled=not can_start)
    if not (submitted and backends and can_start):
        return None
    return {
        "backends": backends,
        "params": {
            "rf": {"n_estimators": int(trees), "max_features": max_features, "target_transform": target},
            "tf": {
                "epochs": int(epochs),
                "learning_rate": learning_rate,
                "target_transform": target,
                "architecture": network,
                "ensemble_size": int(members),
            },
        },
        "cv_repeats": int(cv_repeats),
    }

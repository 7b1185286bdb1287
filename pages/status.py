import pandas as pd
import streamlit as st

from don_predictor.health import check_health
from don_predictor.ui.frame import ensure_router
from don_predictor.ui.models import LOAD_SECONDS, registry

ensure_router()
st.title("Status")
health = check_health(registry(), LOAD_SECONDS)
if health.status == "OK":
    st.success("**OK**: every model is active and verified; memory and disk are fine.")
else:
    st.error("**DEGRADED**: " + " · ".join(health.reasons))

p, s = health.process, health.system
cols = st.columns(5)
cols[0].metric("process memory (RSS)", f"{p['rss_mb']:,.0f} MB")
cols[1].metric("process CPU", f"{p['cpu_percent']:.0f} %")
cols[2].metric("system memory available", f"{s['memory_available_mb'] / 1024:,.1f} GB")
cols[3].metric("disk free (models)", f"{s['disk_free_mb'] / 1024:,.1f} GB")
cols[4].metric("uptime", f"{p['uptime_s'] / 60:,.0f} min")

st.subheader("Models")
models = pd.DataFrame(
    [
        {
            "model": m["backend"].upper(),
            "active version": m["version"] or "none",
            "checksums": m["checksum"],
            "load time": f"{m['load_s']:.2f} s" if m["load_s"] is not None else "not loaded yet",
        }
        for m in health.models
    ]
)
st.dataframe(models, hide_index=True, width="stretch")
st.caption(f"Models directory: `{s['models_dir']}`")

st.subheader("Versions")
st.dataframe(pd.DataFrame([health.versions]), hide_index=True, width="stretch")
tf_loaded = health.versions["tensorflow"] != "not loaded"
st.caption("TensorFlow is loaded." if tf_loaded else "TensorFlow is not loaded yet (it loads with the first TF model).")

from datetime import UTC, datetime

import streamlit as st

from don_predictor import plots
from don_predictor.config import settings
from don_predictor.services import drift, monitoring
from don_predictor.store.history import HistoryError
from don_predictor.ui.frame import ensure_router
from don_predictor.ui.lab_monitoring import check_samples_panel, verification_panel

ensure_router()
st.title("Monitoring")
st.caption(
    "Do the spectra and predictions coming in still look like the calibration data? From the prediction history "
    f"of every page and replica; the drift score covers the last {monitoring.DRIFT_DAYS} days."
)
config = settings()
c1, c2 = st.columns(2)
days = c1.selectbox("Show the last", [7, 30, 90, 365], index=1, format_func=lambda n: f"{n} days")
period = c2.radio("Per", ["D", "W"], format_func={"D": "day", "W": "week"}.get, horizontal=True)


@st.cache_data(ttl=60, show_spinner="Reading the history…")
def window(db, models_dir, days: int) -> monitoring.Window:
    return monitoring.load_window(db, models_dir, days)


try:
    data = window(config.history_db, config.models_dir, days)
except HistoryError as error:
    st.error(str(error))
    st.stop()

now = datetime.now(UTC)
found = monitoring.drifts(data, config.drift_threshold, now=now)
for item in sorted(found, key=lambda f: (data.active.get(f.backend) != f.version, f.backend)):
    active = data.active.get(item.backend) == item.version
    text = item.sentence(monitoring.DRIFT_DAYS) + ("" if active else " (not the active version)")
    {"error": st.error, "warning": st.warning, "success": st.success, "info": st.info}[item.level](text)
if not found:
    st.info("No active model with a calibration reference yet: train one on the Train page.")

if data.frame.empty:
    st.info(f"Nothing scored in the last {days} days. Score a file on the Compare, RandomForest or TensorFlow page.")
    st.stop()

# What the lab's results say of the screen comes first: it is the promise the screen is held to.
verification_panel(config, days)
check_samples_panel(config, days)

if len(data.frame) >= monitoring.MAX_ROWS:
    st.caption(f"The newest {monitoring.MAX_ROWS:,} results of this window are shown; pick a shorter window for all.")
table = drift.by_period(data.frame, period)
st.subheader("Out-of-domain share")
st.plotly_chart(plots.share_chart(table, "out_of_domain", "out of domain"), width="stretch")
st.subheader("Verdicts")
st.plotly_chart(plots.verdict_chart(table), width="stretch")

st.subheader("Against the calibration data")
for (backend, version), reference in data.references.items():
    rows = drift.served_by(drift.recent(data.frame, days, now), backend, version)
    if rows.empty:
        continue
    st.markdown(f"**{backend.upper()} {version}** · {len(rows):,} scored spectra")
    left, right = st.columns(2)
    # A key per version: two versions' charts can be identical (both models on one file), and Streamlit refuses
    # two elements with the same content and no key.
    key = f"{backend}_{version}"
    left.plotly_chart(plots.predictions_vs_calibration(rows, reference), width="stretch", key=f"predictions_{key}")
    right.plotly_chart(
        plots.statistic_chart(rows, reference, "baseline", reference.baseline_limit, "baseline offset (SD)"),
        width="stretch",
        key=f"baseline_{key}",
    )
    left.plotly_chart(
        plots.statistic_chart(rows, reference, "t2", reference.t2_limit, "Hotelling T²"),
        width="stretch",
        key=f"t2_{key}",
    )
    right.plotly_chart(
        plots.statistic_chart(rows, reference, "q", reference.q_limit, "Q residual"),
        width="stretch",
        key=f"q_{key}",
    )

st.subheader("Live performance")
live = drift.live_performance(data.frame, period)
if live.empty:
    st.caption("No upload in this window carried measured values (a `vomitoxin_ppb` column).")
else:
    st.caption(plots.live_caption(live))
    trusted_live = live[live["rows"] > 0]
    if trusted_live.empty:
        st.warning(
            "No row with a measured value lies in the calibration domain: there is no trusted prediction to "
            "measure the models' live error and coverage on."
        )
    for backend, part in trusted_live.groupby("backend"):
        cv = monitoring.cv_reference(config.models_dir, backend, data.active.get(backend, ""))
        left, right = st.columns(2)
        left.plotly_chart(
            plots.performance_chart(part, "mae_ppb", cv.get("mae_ppb"), "MAE (ppb)"),
            width="stretch",
            key=f"live_mae_{backend}",
        )
        right.plotly_chart(
            plots.performance_chart(part, "coverage", cv.get("coverage"), "interval coverage"),
            width="stretch",
            key=f"live_coverage_{backend}",
        )
    st.dataframe(plots.live_table(live), hide_index=True, width="stretch")

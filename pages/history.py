from datetime import UTC, datetime, time, timedelta

import plotly.express as px
import streamlit as st

from don_predictor.config import BACKENDS, settings
from don_predictor.exports import history_frame
from don_predictor.history import HistoryError, describe, list_runs, predictions_over_time, run_rows
from don_predictor.predict import results_csv
from don_predictor.ui.frame import ensure_router

MAX_PLOTTED_RUNS = 100

ensure_router()
st.title("Prediction history")
db = settings().history_db
st.caption(f"Every scoring run, from every page and the command line, is kept in `{describe(db)}`.")

c1, c2, c3, c4 = st.columns(4)
today = datetime.now(UTC).date()
dates = c1.date_input("Dates", (today - timedelta(days=30), today))
backend = c2.selectbox("Model", ["any", *BACKENDS], format_func=lambda b: b.upper() if b != "any" else "any")
version = c3.text_input("Model version", placeholder="any")
verdict = c4.selectbox("Has a sample that is", ["any", "above", "send_to_lab", "below"])

since = until = None
if isinstance(dates, tuple) and len(dates) == 2:
    since = datetime.combine(dates[0], time.min, tzinfo=UTC)
    until = datetime.combine(dates[1], time.min, tzinfo=UTC) + timedelta(days=1)
try:
    runs = list_runs(
        db,
        since=since,
        until=until,
        backend=None if backend == "any" else backend,
        model_version=version.strip() or None,
        verdict=None if verdict == "any" else verdict,
    )
except HistoryError as error:
    st.error(str(error))
    st.stop()

runs["created_utc"] = runs["created_utc"].dt.strftime("%Y-%m-%d %H:%M:%S")
if runs.empty:
    st.info("No runs match. Score a file on the Compare, RandomForest or TensorFlow page and it appears here.")
    st.stop()

st.dataframe(
    runs.drop(columns=["file_sha256"]),
    hide_index=True,
    width="stretch",
    column_config={"created_utc": st.column_config.TextColumn("time (UTC)")},
)
run_id = st.selectbox(
    "Run",
    runs["run_id"],
    format_func=lambda r: (
        f"{runs.set_index('run_id').loc[r, 'created_utc'][:19]} · "
        f"{runs.set_index('run_id').loc[r, 'file_name']} · {runs.set_index('run_id').loc[r, 'source']}"
    ),
)
try:
    rows = run_rows(db, run_id)
    points = predictions_over_time(db, runs["run_id"].head(MAX_PLOTTED_RUNS).tolist())
except HistoryError as error:
    st.error(str(error))
    st.stop()
st.dataframe(history_frame(rows), hide_index=True, width="stretch")  # as the download: rounded, in file order
st.download_button(  # the same columns, rounding and true/false as the page's own download of that run
    "Download this run (CSV)",
    lambda: results_csv(history_frame(rows)),
    f"run_{run_id[:8]}.csv",
    "text/csv",
    on_click="ignore",
)

st.subheader("Predictions over time")
if not points.empty:
    points["ppb"] = points["ppb"].clip(lower=1.0)  # zeros cannot sit on a log axis
    figure = px.strip(points, x="time", y="ppb", color="model", log_y=True, hover_data=["sample_id"])
    figure.update_layout(yaxis_title="predicted DON (ppb)", height=380, margin={"t": 30})
    st.plotly_chart(figure, width="stretch")

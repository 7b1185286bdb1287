import json
from datetime import UTC, datetime, time, timedelta

import streamlit as st

from don_predictor import plots
from don_predictor.config import BACKENDS, settings
from don_predictor.plain_text import markdown_literal, visible, visible_text
from don_predictor.services.drift import trusted
from don_predictor.services.exports import history_frame
from don_predictor.services.history_state import history_state
from don_predictor.services.results_csv import results_csv
from don_predictor.store.history import HistoryError, describe, list_runs, predictions_over_time, run_rows
from don_predictor.store.history.store import count_runs
from don_predictor.trust.limits import get_limit
from don_predictor.ui.frame import ensure_router
from don_predictor.ui.login import can, current_user

PAGE_SIZE = 50  # runs per page: the table, the run picker and the plot over time
POINTS_PER_RUN = 200  # samples of each run in the plot over time (evenly spaced): the browser stays quick
RUN_COLUMNS = [  # what a reader scans first: when, which file, where from, against what, how many rows, by which models
    "created_utc",
    "file_name",
    "source",
    "limit_key",
    "rows_read",
    "rows_scored",
    "rows_rejected",
    "model_versions",
    "user",
    "run_id",
]


def readable_runs(runs):
    """The runs as listed: model versions as 'RF 2026…, TF 2026…' (stored as JSON), no user as a dash."""
    shown = runs[[c for c in RUN_COLUMNS if c in runs]].copy()
    shown["model_versions"] = [
        ", ".join(f"{backend.upper()} {version}" for backend, version in json.loads(versions).items())
        for versions in runs["model_versions"]
    ]
    shown["user"] = runs["user"].fillna("—").map(visible)
    shown["file_name"] = runs["file_name"].map(visible)
    shown["limit_key"] = [limit_name(key) for key in runs["limit_key"]]
    return shown


def limit_name(key) -> str:
    """A stored limit key as a reader knows it ('1,500 ppb (1.5 ppm) · EU: unprocessed durum wheat and maize'), or
    the key itself when it is unknown."""
    if not isinstance(key, str) or not key:
        return "—"
    try:
        return get_limit(key).label  # with its regulation: 1,000 ppb is the FDA's 1 ppm or the EU cereals limit
    except ValueError:
        return key


ensure_router()
st.title("Prediction history")
db = settings().history_db
own_only = not can("all_results")  # a viewer sees their own runs (services/permissions.py)
if own_only:
    st.caption("Your own scoring runs, from every page and the command line.")
elif can("server_paths"):
    st.caption(f"Every scoring run, from every page and the command line, is kept in {markdown_literal(describe(db))}.")
else:
    st.caption("Every scoring run, from every page and the command line.")
state = history_state(db)
if not state.writable:
    st.warning(f"New runs are not being recorded: the history is {state.text}. Predictions still work.")

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
filters = {
    "since": since,
    "until": until,
    "backend": None if backend == "any" else backend,
    "model_version": version.strip() or None,
    "verdict": None if verdict == "any" else verdict,
    "user": (current_user() or "") if own_only else None,
}
try:
    total = count_runs(db, **filters)
except HistoryError as error:
    st.error(str(error))
    st.stop()
if total == 0:
    st.info("No runs match. Score a file on the Compare, RandomForest or TensorFlow page and it appears here.")
    st.stop()

# One page of runs at a time: a busy lab's history holds tens of thousands of runs, and the table, the run picker and
# the plot below read only this page's runs.
pages = -(-total // PAGE_SIZE)
page = 1
if pages > 1:  # no key: when new filters change the number of pages, the widget is new and starts at page 1
    page = int(st.number_input("Page", 1, pages, 1, step=1, help="Page 1 holds the newest runs."))
try:
    runs = list_runs(db, **filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
except HistoryError as error:
    st.error(str(error))
    st.stop()

runs["created_utc"] = runs["created_utc"].dt.strftime("%Y-%m-%d %H:%M:%S")
first = (page - 1) * PAGE_SIZE + 1
st.caption(f"Runs {first:,}–{first + len(runs) - 1:,} of {total:,}, newest first (page {page:,} of {pages:,}).")
st.dataframe(
    readable_runs(runs),
    hide_index=True,
    width="stretch",
    column_config={
        "created_utc": st.column_config.TextColumn("time (UTC)"),
        "file_name": st.column_config.TextColumn("file"),
        "limit_key": st.column_config.TextColumn("limit"),
        "rows_read": st.column_config.NumberColumn("rows", format="%d"),
        "rows_scored": st.column_config.NumberColumn("scored", format="%d"),
        "rows_rejected": st.column_config.NumberColumn("not scored", format="%d"),
        "model_versions": st.column_config.TextColumn("model versions"),
        "run_id": st.column_config.TextColumn("run id"),
    },
)
names = runs["file_name"].fillna("(no name)").map(visible)
labels = runs["created_utc"] + " · " + names + " · " + runs["source"]
labels = dict(zip(runs["run_id"], labels, strict=True))
run_id = st.selectbox("Run", list(labels), format_func=labels.__getitem__)  # one lookup per option, no frame copies
try:
    rows = run_rows(db, run_id)
    points = predictions_over_time(db, runs["run_id"].tolist(), per_run=POINTS_PER_RUN, with_trust=True)
except HistoryError as error:
    st.error(str(error))
    st.stop()
# As the download (rounded, in file order), ids and lots with hidden characters escaped.
st.dataframe(visible_text(history_frame(rows)), hide_index=True, width="stretch")
st.download_button(  # the same columns, rounding and true/false as the page's own download of that run
    "Download this run (CSV)",
    lambda: results_csv(history_frame(rows)),
    f"run_{run_id[:8]}.csv",
    "text/csv",
    on_click="ignore",
)

st.subheader("Predictions over time")
st.caption(f"The runs on this page; of a big run, about {POINTS_PER_RUN} samples evenly spaced through its file.")
if not points.empty:
    st.plotly_chart(plots.predictions_over_time_figure(points), width="stretch")
    if note := plots.left_out_note(len(points), int(trusted(points).sum()), "plot", marked=True):
        st.caption(note)

"""Record each scoring run in the prediction history once, however often Streamlit reruns the page, and keep the
time the history gave it: every download of the run carries that one time, whichever rerun built it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import streamlit as st

from don_predictor.config import settings
from don_predictor.logs import event
from don_predictor.services.scoring import record_scored_run
from don_predictor.store.history import RunInfo, list_runs
from don_predictor.trust.limits import Limit
from don_predictor.ui.login import current_user
from don_predictor.ui.upload import Upload, target_of


def record_scoring(
    results: pd.DataFrame,
    id_column: str,
    upload: Upload,
    versions: dict[str, str],
    limit: Limit,
    source: str,
    seconds: float | None,
    row_flags: Callable[[], dict[str, np.ndarray]] | None = None,
) -> None:
    """`row_flags`: more per-row columns for the history only (e.g. which rows were a model's training spectra),
    computed only when the run is recorded, not on every rerun of the page."""
    sha256 = upload.sha256
    key = (source, sha256, tuple(sorted(versions.items())), limit.key)
    recorded = st.session_state.setdefault("recorded_runs", set())
    if key in recorded:
        return
    if row_flags is not None:
        results = results.assign(**row_flags())
    info = RunInfo(source, versions, upload.name, sha256, limit.key, current_user())
    db = settings().history_db
    before = _now()
    try:
        run_id = record_scored_run(db, results, id_column, info, seconds, measured_values(upload))
    except Exception as error:  # scoring worked; a history failure is reported, not fatal
        event("history_write_failed", logging.ERROR, page=source, error=f"{type(error).__name__}: {error}")
        st.warning(f"This run could not be saved to the prediction history: {error}")
        scoring_time(sha256, versions, limit.key)  # the downloads still carry one time: the first attempt's
        return
    recorded.add(key)
    _run_times()[run_key(sha256, versions, limit.key)] = _iso(_recorded_time(db, run_id, before))


RUN_TIMES = "run_times"  # session state: run_key -> the run's time (ISO 8601, UTC, to the second)


def run_key(sha256: str, versions: dict[str, str], limit_key: str) -> tuple:
    """One run of a page: the upload, the model versions and the limit (the history records each once)."""
    return sha256, tuple(sorted(versions.items())), limit_key


def scoring_time(sha256: str, versions: dict[str, str], limit_key: str) -> str:
    """The run's time for its downloads: the time the history recorded for it (record_scoring), so the JSON, the
    workbook and the report agree with each other and with the History page however many reruns apart they are
    built. A run the history could not record gets the time it is first asked for, and keeps it."""
    return _run_times().setdefault(run_key(sha256, versions, limit_key), _iso(_now()))


def _run_times() -> dict[tuple, str]:
    return st.session_state.setdefault(RUN_TIMES, {})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _recorded_time(db: str, run_id: str, before: dt.datetime) -> dt.datetime:
    """The time the history stored for the run (read back: it stamps the run itself); `before`, taken just before
    the run was written, if it cannot be read."""
    try:
        runs = list_runs(db, since=before - dt.timedelta(seconds=1))
        found = runs.loc[runs["run_id"] == run_id, "created_utc"]
        return found.iloc[0].to_pydatetime() if len(found) else before
    except Exception:  # the run is saved; its time within a second of `before` is the best left
        return before


def measured_values(upload: Upload) -> pd.Series | None:
    """The upload's measured DON per row (the Monitoring page's live error), from the already-read table."""
    from don_predictor.ui.models import read_upload

    try:
        target = target_of(read_upload(upload.data, sha256=upload.sha256))
    except Exception:  # the table was read to be scored; if it cannot be now, the run is kept without them
        return None
    return None if target is None else pd.Series(target)

"""Record each scoring run in the prediction history once, however often Streamlit reruns the page, and keep the
time the history gave it: every download of the run carries that one time, whichever rerun built it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import streamlit as st

from don_predictor.config import settings
from don_predictor.logs import event
from don_predictor.modeling.backends import Backend
from don_predictor.scoring.pipeline import Recording, Screened, screen
from don_predictor.scoring.record import Recorded
from don_predictor.scoring.run import ScoredRun
from don_predictor.spectra.table import SpectraTable
from don_predictor.store.history import RunInfo
from don_predictor.trust.limits import Limit
from don_predictor.ui.login import current_user
from don_predictor.ui.upload import Upload

RECORDED = "recorded_runs"  # session state: the runs this session recorded
RUN_TIMES = "run_times"  # session state: run_key -> the run's time (ISO 8601, UTC, to the second)
WORKLISTS = "lab_worklists"  # session state: run_key -> the lab worklist its recording drew


def screen_and_record(
    upload: Upload,
    table: SpectraTable | None,
    models: dict[str, Backend],
    run: ScoredRun,
    limit: Limit,
    source: str,
    seconds: float | None,
    *,
    demo: frozenset[str] = frozenset(),
    in_training: Callable[[], dict[str, np.ndarray | None]] | None = None,
    measured: np.ndarray | None = None,
) -> Screened:
    """The upload's run (scored, or kept from an earlier rerun) decided at `limit` through the pipeline, recorded
    once per session (see recording_for); a history that cannot be written is said on the page, not fatal."""
    versions, risk = run.versions, settings().risk
    recording = recording_for(upload, versions, limit, source, seconds, in_training, measured)
    try:
        screened = screen(table, models, limit.ppb, risk, demo=demo, run=run, recording=recording)
    except Exception as error:  # scored and decided; only the history could not be written
        note_not_recorded(upload, versions, limit, source, error)
        return screen(table, models, limit.ppb, risk, demo=demo, run=run)
    worklists = st.session_state.setdefault(WORKLISTS, {})
    key = run_key(upload.sha256, versions, limit.key)
    if screened.recorded is not None:
        note_recorded(upload, versions, limit, source, screened.recorded)
        worklists[key] = screened.worklist
    return replace(screened, worklist=worklists.get(key))  # a rerun shows the worklist its run drew


def recording_for(
    upload: Upload,
    versions: dict[str, str],
    limit: Limit,
    source: str,
    seconds: float | None,
    in_training: Callable[[], dict[str, np.ndarray | None]] | None = None,
    measured: np.ndarray | None = None,
) -> Recording | None:
    """How the pipeline records this run; None when this session recorded it already (a rerun of the page)."""
    if _session_key(upload, versions, limit, source) in st.session_state.setdefault(RECORDED, set()):
        return None
    info = RunInfo(source, versions, upload.name, upload.sha256, limit.key, current_user())
    return Recording(settings().history_db, info, seconds, in_training, measured)


def note_recorded(upload: Upload, versions: dict[str, str], limit: Limit, source: str, recorded: Recorded) -> None:
    """The run is in the history: not recorded again, and its downloads carry the time the history stored."""
    st.session_state.setdefault(RECORDED, set()).add(_session_key(upload, versions, limit, source))
    _run_times()[run_key(upload.sha256, versions, limit.key)] = _iso(recorded.created_utc)


def note_not_recorded(upload: Upload, versions: dict[str, str], limit: Limit, source: str, error: Exception) -> None:
    """Scoring worked; a history failure is reported, not fatal (the next rerun tries again)."""
    event("history_write_failed", logging.ERROR, page=source, error=f"{type(error).__name__}: {error}")
    st.warning(f"This run could not be saved to the prediction history: {error}")
    scoring_time(upload.sha256, versions, limit.key)  # the downloads still carry one time: the first attempt's


def _session_key(upload: Upload, versions: dict[str, str], limit: Limit, source: str) -> tuple:
    return source, upload.sha256, tuple(sorted(versions.items())), limit.key


def run_key(sha256: str, versions: dict[str, str], limit_key: str) -> tuple:
    """One run of a page: the upload, the model versions and the limit (the history records each once)."""
    return sha256, tuple(sorted(versions.items())), limit_key


def scoring_time(sha256: str, versions: dict[str, str], limit_key: str) -> str:
    """The run's time for its downloads: the time the history recorded for it (note_recorded), so the JSON, the
    workbook and the report agree with each other and with the History page however many reruns apart they are
    built. A run the history could not record gets the time it is first asked for, and keeps it."""
    return _run_times().setdefault(run_key(sha256, versions, limit_key), _iso(_now()))


def _run_times() -> dict[tuple, str]:
    return st.session_state.setdefault(RUN_TIMES, {})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")

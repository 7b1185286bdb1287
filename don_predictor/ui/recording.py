"""Record each scoring run in the prediction history once, however often Streamlit reruns the page."""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from don_predictor.config import settings
from don_predictor.logs import event
from don_predictor.services.scoring import record_scored_run
from don_predictor.store.history import RunInfo
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
) -> None:
    sha256 = upload.sha256
    key = (source, sha256, tuple(sorted(versions.items())), limit.key)
    recorded = st.session_state.setdefault("recorded_runs", set())
    if key in recorded:
        return
    info = RunInfo(source, versions, upload.name, sha256, limit.key, current_user())
    try:
        record_scored_run(settings().history_db, results, id_column, info, seconds, measured_values(upload))
    except Exception as error:  # scoring worked; a history failure is reported, not fatal
        event("history_write_failed", logging.ERROR, page=source, error=f"{type(error).__name__}: {error}")
        st.warning(f"This run could not be saved to the prediction history: {error}")
        return
    recorded.add(key)


def measured_values(upload: Upload) -> pd.Series | None:
    """The upload's measured DON per row (the Monitoring page's live error), from the already-read table."""
    from don_predictor.ui.models import read_upload

    try:
        target = target_of(read_upload(upload.data, sha256=upload.sha256))
    except Exception:  # the table was read to be scored; if it cannot be now, the run is kept without them
        return None
    return None if target is None else pd.Series(target)

"""The one way a scored run is kept: in the prediction history, the metrics and the log, from the command line, any
page or a batch job alike. Scoring itself is predict.score_table + predict.add_verdicts (batch.score_stream for a
file streamed in batches)."""

from __future__ import annotations

import pandas as pd

from don_predictor.logs import event
from don_predictor.services import metrics
from don_predictor.services.history_state import note_write
from don_predictor.store.history import RunInfo, record_run


def record_scored_run(
    db: str,
    results: pd.DataFrame,
    id_column: str,
    info: RunInfo,
    seconds: float | None,
    measured: pd.Series | None = None,
) -> str:
    """Store the run and its rows; count it in the metrics; log it. Returns the run id. A history that cannot be
    written raises (the caller decides whether that stops it). `seconds` None: the scores were reused (a page's
    kept scores at another limit), so no scoring time is observed."""
    versions = info.model_versions
    metrics.observe_scoring(results, list(versions), info.source, seconds)
    try:
        run_id = record_run(db, results, id_column, info, measured=measured)
    except Exception as error:
        metrics.HISTORY_WRITE_ERRORS.labels("run").inc()
        note_write(db, error)  # the Status page says so until a run is written again
        raise
    note_write(db)
    scored = int((results["status"] == "ok").sum())
    event(
        "scored",
        page=info.source,
        backends=",".join(versions),
        versions=",".join(versions.values()),
        rows=len(results),
        scored=scored,
        rejected=len(results) - scored,
        seconds=seconds,
        run=run_id,
    )
    return run_id

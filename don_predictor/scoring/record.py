"""The one way a scored run is kept: in the prediction history, the metrics and the log, from the command line, any
page or a batch job alike."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from don_predictor.logs import event
from don_predictor.scoring.frame import results_frame
from don_predictor.scoring.run import Decisions, ScoredRun
from don_predictor.services import metrics
from don_predictor.services.history_state import note_write
from don_predictor.store.history import RunInfo, record_run


@dataclass(frozen=True)
class Recorded:
    """A run as the history keeps it: its id and the time stored with it."""

    run_id: str
    created_utc: dt.datetime


def record(
    db: str,
    run: ScoredRun,
    decisions: Decisions,
    info: RunInfo,
    seconds: float | None,
    in_training: dict[str, np.ndarray | None] | None = None,
    measured: np.ndarray | None = None,
) -> Recorded:
    """The run, its verdicts and its measured values (`measured`, else the run's) in the history (see
    record_scored_run). `in_training`: per backend, which rows were that model's training spectra (the history
    marks them, so Monitoring does not count them as drift; None: the bundle cannot tell)."""
    results = results_frame(run, decisions, in_training=in_training)
    measured = run.measured if measured is None else measured
    measured = None if measured is None else pd.Series(measured)
    created = dt.datetime.now(dt.UTC)
    run_id = record_scored_run(db, results, run.id_column, info, seconds, measured, created)
    return Recorded(run_id, created)


def record_scored_run(
    db: str,
    results: pd.DataFrame,
    id_column: str,
    info: RunInfo,
    seconds: float | None,
    measured: pd.Series | None = None,
    created: dt.datetime | None = None,
) -> str:
    """Store the run and its rows; count it in the metrics; log it. Returns the run id. A history that cannot be
    written raises (the caller decides whether that stops it). `seconds` None: the scores were reused (a page's
    kept scores at another limit), so no scoring time is observed."""
    versions = info.model_versions
    metrics.observe_scoring(results, list(versions), info.source, seconds)
    try:
        run_id = record_run(db, results, id_column, info, measured=measured, created_at=created)
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

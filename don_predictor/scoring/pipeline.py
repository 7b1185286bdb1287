"""One pipeline behind every entry point: a validated table and loaded models -> score -> decide -> record. The
pages, the command line's local engine (per batch) and the Dask workers call it; Streamlit's caches wrap it at the
UI edge (they hand in a kept run, so only deciding and recording run again)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from don_predictor.lab.records import keep_for_lab
from don_predictor.lab.worklist import Worklist
from don_predictor.modeling.backends import Backend
from don_predictor.scoring.decide import decide
from don_predictor.scoring.record import Recorded, record
from don_predictor.scoring.run import Decisions, ScoredRun
from don_predictor.scoring.score import score
from don_predictor.spectra.table import SpectraTable
from don_predictor.store.history import RunInfo
from don_predictor.tracing import span
from don_predictor.trust.screening import Risk


@dataclass(frozen=True)
class Recording:
    """Where and how to record a run: the history, what the run is, its scoring time (None: kept scores reused),
    which rows were each model's training spectra (computed only when the run is recorded: see record.record) and
    the measured values to keep (None: the run's)."""

    db: str
    info: RunInfo
    seconds: float | None
    in_training: Callable[[], dict[str, np.ndarray | None]] | None = None
    measured: np.ndarray | None = None


@dataclass(frozen=True)
class Screened:
    run: ScoredRun
    decisions: Decisions
    recorded: Recorded | None = None  # None: not recorded (asked not to)
    worklist: Worklist | None = None  # the lab worklist drawn when the run was recorded


def screen(
    table: SpectraTable,
    models: dict[str, Backend],
    limit_ppb: float,
    risk: Risk,
    *,
    versions: dict[str, str] | None = None,
    demo: frozenset[str] = frozenset(),
    run: ScoredRun | None = None,
    recording: Recording | None = None,
) -> Screened:
    """`table` scored by `models` (or `run`, the table's kept scores by them), decided at `limit_ppb` and `risk`,
    and, with `recording`, recorded (a history that cannot be written raises: the caller decides what that stops).
    Raises BandMismatchError when the table's bands are not a model's."""
    if run is None:
        run = score(table, models, versions)
    limit_key = recording.info.limit_key if recording is not None else ""
    with span("decide", backends=",".join(run.backends), limit=limit_key or "", limit_ppb=limit_ppb):
        decisions = decide(run, limit_ppb, risk, demo=demo)
    if recording is None:
        return Screened(run, decisions)
    with span("record", rows=run.n_rows, page=recording.info.source):
        in_training = recording.in_training() if recording.in_training is not None else None
        recorded = record(
            recording.db, run, decisions, recording.info, recording.seconds, in_training, recording.measured
        )
        worklist = _keep_for_lab(recording.db, recorded.run_id, table, decisions)
    return Screened(run, decisions, recorded, worklist)


def _keep_for_lab(db: str, run_id: str, table: SpectraTable | None, decisions: Decisions) -> Worklist | None:
    """The run's lab worklist (every send_to_lab sample and a random share of the cleared ones), kept in the
    history with the listed spectra; None when nothing decides or the spectra are not at hand."""
    acting = decisions.acting()
    if acting is None or table is None:
        return None
    return keep_for_lab(
        db, run_id, table, list(acting.verdict), decided_by=acting.decided_by, reasons=list(acting.reason)
    )

"""The worklist kept in the history when its run is recorded: the draw (share, seed), the listed samples and their
spectra (for retraining), in one transaction. The recorder makes one call: record_worklist(db, worklist, table).

The spectra kept are bounded: older than DON_LAB_SPECTRA_RETENTION_DAYS go, and past DON_LAB_SPECTRA_MAX the oldest
go first, those the lab has not measured before those it has (a measured spectrum is training data; an unmeasured
one may never be)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import delete, exists, insert, select

from don_predictor.lab.worklist import Worklist, build_worklist
from don_predictor.spectra.table import SpectraTable
from don_predictor.store.history import tables as t
from don_predictor.store.history.db import engine, writing
from don_predictor.store.history.store import plain_errors


@plain_errors
def record_worklist(
    db: str | Path,
    worklist: Worklist,
    table: SpectraTable | None,
    *,
    keep_max: int = 20_000,
    keep_days: int = 0,
    listed_spectra: np.ndarray | None = None,
    band_names: list[str] | None = None,
) -> None:
    """Keep the run's draw, its listed samples and their spectra: from `table` (the run's rows in order), or
    `listed_spectra` (one row per listed sample, in the worklist's order, on `band_names`: a streamed run's)."""
    now = t.utc_now()
    if table is not None:
        listed_spectra, band_names = table.X[worklist.positions], list(table.band_names)
    bands = json.dumps(list(band_names)) if listed_spectra is not None and band_names is not None else None
    head = {
        "run_id": worklist.run_id,
        "created_at": now,
        "decided_by": worklist.decided_by,
        "verify_share": worklist.verify_share,
        "seed": worklist.seed,
        "cleared": worklist.cleared,
        "called_above": worklist.called_above,
        "band_names": bands,
    }
    picks = [
        {"run_id": worklist.run_id, "position": int(p), "purpose": u, "verdict": v, "reason": r, "lot": lot}
        for p, u, v, r, lot in zip(
            worklist.positions, worklist.purposes, worklist.verdicts, worklist.reasons, worklist.lots, strict=True
        )
    ]
    spectra = []
    if bands is not None and keep_max > 0 and len(worklist.positions):
        rows = listed_spectra
        finite = np.isfinite(rows).all(axis=1)
        spectra = [
            {"run_id": worklist.run_id, "position": int(p), "created_at": now, "spectrum": _pack(row)}
            for p, row, ok in zip(worklist.positions, rows, finite, strict=True)
            if ok
        ]
    with writing(db) as connection:
        connection.execute(insert(t.lab_worklists), [head])
        if picks:
            connection.execute(insert(t.lab_picks), picks)
        if spectra:
            connection.execute(insert(t.lab_spectra), spectra)
            _prune(connection, keep_max, keep_days)


def keep_for_lab(
    db: str | Path,
    run_id: str,
    table: SpectraTable,
    verdicts: list[str],
    *,
    decided_by: str,
    reasons: list[str] | None = None,
    seed: int | None = None,
    config=None,
) -> Worklist:
    """The recorder's one call once a run is recorded: draw the run's worklist (DON_VERIFY_SHARE), keep it and its
    spectra (DON_LAB_SPECTRA_MAX, DON_LAB_SPECTRA_RETENTION_DAYS). `verdicts`: the decision per row of `table`."""
    from don_predictor.config import settings

    config = config or settings()
    worklist = build_worklist(
        run_id, table.ids, verdicts, reasons, table.lots, share=config.verify_share, seed=seed, decided_by=decided_by
    )
    record_worklist(db, worklist, table, keep_max=config.lab_spectra_max, keep_days=config.lab_spectra_retention_days)
    return worklist


def _prune(connection, keep_max: int, keep_days: int) -> None:
    s, res = t.lab_spectra, t.lab_results
    if keep_days:
        connection.execute(delete(s).where(s.c.created_at < t.utc_now() - timedelta(days=keep_days)))
    measured = exists().where(res.c.run_id == s.c.run_id, res.c.position == s.c.position)
    kept = (
        select(s.c.run_id, s.c.position)
        .order_by(measured.desc(), s.c.created_at.desc(), s.c.run_id.desc(), s.c.position.desc())
        .offset(keep_max)
    )
    over = [tuple(row) for row in connection.execute(kept)]
    for run_id, position in over:
        connection.execute(delete(s).where(s.c.run_id == run_id, s.c.position == position))


def _pack(row: np.ndarray) -> bytes:
    return np.asarray(row, dtype="<f8").tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f8")


@plain_errors
def run_worklist(db: str | Path, run_id: str) -> pd.DataFrame:
    """A recorded run's worklist rows (sample id, position, purpose, verdict, reason, lot), in the run's order; empty
    when the run has none."""
    p, s = t.lab_picks, t.samples
    query = (
        select(s.c.sample_id, p.c.position, p.c.purpose, p.c.verdict, p.c.reason, p.c.lot)
        .join(s, (s.c.run_id == p.c.run_id) & (s.c.position == p.c.position))
        .where(p.c.run_id == run_id)
        .order_by(p.c.position)
    )
    with engine(db).connect() as connection:
        rows = [tuple(row) for row in connection.execute(query)]
    return pd.DataFrame(rows, columns=["sample_id", "position", "purpose", "verdict", "reason", "lot"])

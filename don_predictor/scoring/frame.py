"""The edge writer: a run and its decisions as the results frame, in the command line's column contract (the id
column, the lot column when the file has one, status, then per backend BACKEND_FIELDS; see docs/DESIGN.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from don_predictor.config import settings
from don_predictor.modeling.backends import Backend
from don_predictor.scoring.decide import decide
from don_predictor.scoring.run import JOINT, Decisions, ScoredRun
from don_predictor.scoring.score import score
from don_predictor.spectra.table import SpectraTable
from don_predictor.trust.screening import DEFAULT_RISK, Risk

MEASURED_COLUMN = "measured_ppb"
# A backend's columns, in the order the results give them.
BACKEND_FIELDS = ("ppb", "low_ppb", "high_ppb", "in_domain", "t2", "q", "baseline", "verdict", "verdict_reason")
_SCORE_FIELDS = {"ppb": "ppb", "low_ppb": "low", "high_ppb": "high", "in_domain": "in_domain", "t2": "t2"}
_SCORE_FIELDS |= {"q": "q", "baseline": "baseline"}


def results_frame(
    run: ScoredRun,
    decisions: Decisions | None = None,
    *,
    measured: bool = False,
    joint: bool = False,
    in_training: dict[str, np.ndarray | None] | None = None,
) -> pd.DataFrame:
    """One row per input row: the id column, the lot column (when the file has one), status, with `measured` the
    file's measured DON as `measured_ppb` (when it has them), then per backend `<backend>_ppb` and, when the model
    has them, `<backend>_low_ppb`, `<backend>_high_ppb`, `<backend>_in_domain` with the statistics behind it
    (`_t2`, `_q`, `_baseline`), and, with `decisions`, `<backend>_verdict` and `<backend>_verdict_reason`. With
    `joint` and a joint decision, `both_verdict` and `both_in_domain`; with `in_training` (the history's),
    `<backend>_in_training` for each backend that can tell, last. Rows not scored have empty cells."""
    columns: dict[str, object] = {run.id_column: run.ids}
    if run.lots is not None:
        columns[run.lot_column] = run.lots
    columns["status"] = run.statuses
    if measured and run.measured is not None:
        columns[MEASURED_COLUMN if MEASURED_COLUMN not in columns else f"input_{MEASURED_COLUMN}"] = run.measured
    models = decisions.models if decisions is not None else {}
    for name, scores in run.backends.items():
        for field, attribute in _SCORE_FIELDS.items():
            values = getattr(scores, attribute)
            if values is not None:
                columns[f"{name}_{field}"] = values
        if name in models:
            columns[f"{name}_verdict"] = models[name].verdict
            columns[f"{name}_verdict_reason"] = models[name].reason
    if joint and decisions is not None and decisions.joint is not None:
        columns[f"{JOINT}_verdict"] = decisions.joint.verdict
        columns[f"{JOINT}_in_domain"] = decisions.joint.in_domain
    for name, rows in (in_training or {}).items():
        if rows is not None:
            columns[f"{name}_in_training"] = rows
    return pd.DataFrame(columns)


def predict_table(
    table: SpectraTable,
    models: dict[str, Backend],
    limit_ppb: float | None = None,
    risk: Risk = DEFAULT_RISK,
    *,
    measured: bool = False,
) -> pd.DataFrame:
    """score, decide and results_frame in one call: the results of `models` on `table` at `limit_ppb` (None: the
    settings' default limit, DON_DEFAULT_LIMIT)."""
    if limit_ppb is None:
        limit_ppb = settings().default_limit_ppb
    run = score(table, models)
    return results_frame(run, decide(run, limit_ppb, risk), measured=measured)


def in_results_order(columns: list[str], backends: list[str]) -> list[str]:
    """`columns` reordered as the results give them: the id, lot, status and other columns first, then each
    backend's own columns in BACKEND_FIELDS order (any others of that backend after them)."""
    ordered = [c for c in columns if not any(c.startswith(f"{b}_") for b in backends)]
    for backend in backends:
        own = [c for c in columns if c.startswith(f"{backend}_")]
        known = [f"{backend}_{field}" for field in BACKEND_FIELDS if f"{backend}_{field}" in own]
        ordered += known + [c for c in own if c not in known]
    return ordered

"""The score cache: each upload's ScoredRun by the given model versions, kept without a limit, so that another
limit (or a rerun) only decides again. Shared by every session of the process, bounded by bytes."""

from __future__ import annotations

import sys

import numpy as np

from don_predictor.modeling.backends import Backend
from don_predictor.scoring.run import ScoredRun
from don_predictor.scoring.score import score
from don_predictor.services import metrics
from don_predictor.spectra.table import SpectraTable
from don_predictor.ui.bounded_cache import BoundedCache
from don_predictor.ui.upload_cache import CACHE_ENTRIES

SCORE_CACHE_BYTES = 128 * 1024**2
SCORE_CACHE = BoundedCache(SCORE_CACHE_BYTES, CACHE_ENTRIES)

Versions = tuple[tuple[str, str], ...]  # (backend, version) pairs


def scored_run(
    table: SpectraTable, sha256: str, models_dir: str, versions: Versions, models: dict[str, Backend]
) -> ScoredRun:
    """The upload's run by these model versions, scored once (raises BandMismatchError, counted in the metrics)."""

    def compute() -> ScoredRun:
        try:
            return score(table, models, dict(versions))
        except Exception as error:
            metrics.SCORING_ERRORS.labels(type(error).__name__).inc()
            raise

    return SCORE_CACHE.get((sha256, models_dir, versions), compute, run_bytes)


def scores_kept(sha256: str, models_dir: str, versions: Versions) -> bool:
    """Whether scored_run would reuse this upload's run by these model versions (no model runs)."""
    return (sha256, models_dir, versions) in SCORE_CACHE


def run_bytes(run: ScoredRun) -> int:
    """About what a kept run holds in memory: its arrays, ids, statuses and lots."""
    arrays = sum(
        getattr(getattr(scores, key), "nbytes", 0)
        for scores in run.backends.values()
        for key in ("ppb", "low", "high", "in_domain", "t2", "q", "baseline")
    )
    texts = sum(sys.getsizeof(text) + 8 for text in [*run.ids, *run.statuses, *(run.lots or [])])
    measured = run.measured.nbytes if isinstance(run.measured, np.ndarray) else 0
    return arrays + texts + measured + 1024

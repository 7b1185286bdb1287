"""A scoring run as typed data: score(table, models) -> ScoredRun, decide(run, limit, risk) -> Decisions, and the
one pipeline (pipeline.screen) that scores, decides and records for the pages, the command line and Dask alike.
DataFrames appear only at the edges: frame.results_frame writes the results' column contract."""

from don_predictor.scoring.decide import decide, deciding_backends
from don_predictor.scoring.run import BackendScores, Decisions, JointDecision, Lots, ModelDecision, ScoredRun
from don_predictor.scoring.score import score

__all__ = [
    "BackendScores",
    "Decisions",
    "JointDecision",
    "Lots",
    "ModelDecision",
    "ScoredRun",
    "decide",
    "deciding_backends",
    "score",
]

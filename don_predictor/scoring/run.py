"""The types of a scoring run: what the models said about every row (ScoredRun), and what was decided from it at
one limit and risk (Decisions). Arrays cover every input row, NaN / NA / "" where a row was not scored."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from don_predictor.scoring.frame_views import MAX_LISTED_SAMPLES, lot_table
from don_predictor.trust.screening import ENGINE_CONFORMAL, ENGINE_INTERVAL, Risk, ScreeningCalibration, Thresholds

JOINT = "both"  # the joint decision's name in the results and the lot table


@dataclass(frozen=True)
class BackendScores:
    """One model's scores over all rows of a run."""

    version: str | None
    ppb: np.ndarray  # NaN where not scored
    low: np.ndarray | None = None  # the prediction interval, when the model has one
    high: np.ndarray | None = None
    in_domain: pd.arrays.BooleanArray | None = None  # NA where not scored; None: the model has no domain check
    t2: np.ndarray | None = None  # the statistics behind in_domain
    q: np.ndarray | None = None
    baseline: np.ndarray | None = None
    calibration: ScreeningCalibration | None = field(default=None, repr=False)  # the conformal engine's data
    has_intervals: bool = False

    @property
    def engine(self) -> str | None:
        """Which rule gives this model's verdicts: the conformal engine, the older interval rule, or none."""
        if self.calibration is not None:
            return ENGINE_CONFORMAL
        if self.has_intervals:
            return ENGINE_INTERVAL
        return None

    @property
    def trusted_for_verdicts(self) -> np.ndarray:
        """Rows whose spectrum the domain check passed (not-scored rows and models without one: False)."""
        if self.in_domain is None:
            return np.zeros(len(self.ppb), dtype=bool)
        return self.in_domain.fillna(False).to_numpy(dtype=bool)


@dataclass(frozen=True)
class ScoredRun:
    """Every input row, in input order, with its id, lot, status, measured value and each model's scores."""

    ids: list[str]
    id_column: str  # the id column's name in the results (`row` without one; see SpectraTable.output_id_column)
    statuses: list[str]  # `ok` or why the row was not scored
    backends: dict[str, BackendScores]
    lots: list[str | None] | None = None  # None: the file has no lot column
    lot_column: str | None = None
    measured: np.ndarray | None = None  # the file's measured DON (vomitoxin_ppb), when it has one

    @property
    def n_rows(self) -> int:
        return len(self.ids)

    @property
    def n_scored(self) -> int:
        return sum(status == "ok" for status in self.statuses)

    @property
    def versions(self) -> dict[str, str]:
        return {name: scores.version for name, scores in self.backends.items() if scores.version is not None}

    @classmethod
    def concat(cls, parts: list[ScoredRun]) -> ScoredRun:
        """Runs of consecutive parts of one file (a streamed file's batches) as one run."""
        first = parts[0]
        backends = {}
        for name, scores in first.backends.items():
            each = [part.backends[name] for part in parts]
            joined = {
                key: None if getattr(scores, key) is None else _joined([getattr(s, key) for s in each])
                for key in ("ppb", "low", "high", "in_domain", "t2", "q", "baseline")
            }
            backends[name] = BackendScores(
                scores.version, **joined, calibration=scores.calibration, has_intervals=scores.has_intervals
            )
        return cls(
            ids=[i for part in parts for i in part.ids],
            id_column=first.id_column,
            statuses=[s for part in parts for s in part.statuses],
            backends=backends,
            lots=None if first.lots is None else [lot for part in parts for lot in part.lots],
            lot_column=first.lot_column,
            measured=None if first.measured is None else np.concatenate([part.measured for part in parts]),
        )


def _joined(arrays: list) -> np.ndarray | pd.arrays.BooleanArray:
    if isinstance(arrays[0], pd.arrays.BooleanArray):
        return pd.array(np.concatenate([a.to_numpy(dtype=object, na_value=pd.NA) for a in arrays]), dtype="boolean")
    return np.concatenate(arrays)


@dataclass(frozen=True)
class ModelDecision:
    """One model's verdict and its reason per row ("" where not scored), and the thresholds behind them (None:
    the older interval rule)."""

    verdict: np.ndarray
    reason: np.ndarray
    thresholds: Thresholds | None


@dataclass(frozen=True)
class JointDecision:
    """The decision to act on when two models score: `below` only when each deciding model clears the sample,
    `above` only when each rejects it; trusted only where each trusts it."""

    verdict: np.ndarray
    in_domain: pd.arrays.BooleanArray
    deciding: tuple[str, ...]  # the models it is made of (a demo model beside a real one does not join)


@dataclass(frozen=True)
class Lots:
    """Per-row lots and verdicts, tabled by lot on demand (how many deciding samples a cell names is the edge's
    choice: a few on the page and in the report, every one in the lots file)."""

    lots: list[str | None]
    ids: list[str]
    verdicts: dict[str, np.ndarray]  # name -> verdict per row, the joint one first when there is one
    column: str = "lot"  # the file's lot column

    @property
    def without_lot(self) -> int:
        """Rows whose lot cell is empty: in no lot's verdict."""
        return sum(lot is None for lot in self.lots)

    def table(self, listed: int = MAX_LISTED_SAMPLES) -> pd.DataFrame:
        return lot_table(self.lots, self.ids, self.verdicts, listed=listed)


@dataclass(frozen=True)
class ActingDecision:
    """One verdict and its reason per row, and whose they are (a backend, or "both")."""

    decided_by: str
    verdict: np.ndarray
    reason: np.ndarray


@dataclass(frozen=True)
class Decisions:
    """What a run decides at one limit and risk: per model, jointly, and per lot. Computed once, by decide()."""

    limit_ppb: float
    risk: Risk
    models: dict[str, ModelDecision]  # the models with a verdict rule (a model without calibration has none)
    joint: JointDecision | None = None  # two models with verdicts: their joint decision
    lots: Lots | None = None  # None: the file has no lot column
    demo: frozenset[str] = frozenset()  # the models trained on synthetic spectra

    @property
    def thresholds(self) -> dict[str, Thresholds | None]:
        return {name: decision.thresholds for name, decision in self.models.items()}

    def verdicts(self) -> dict[str, np.ndarray]:
        """Each decision's verdict per row: the joint one first, then each model's."""
        joint = {JOINT: self.joint.verdict} if self.joint is not None else {}
        return joint | {name: decision.verdict for name, decision in self.models.items()}

    def acting(self) -> ActingDecision | None:
        """The decision a lab acts on, one verdict per row: the joint one when two models decide (named after the
        one model it is made of when the other is a demo model), else the one model's; None without verdicts."""
        if self.joint is not None:
            members = self.joint.deciding
            name = JOINT if len(members) > 1 else members[0]
            reasons = [
                "; ".join(f"{m.upper()}: {self.models[m].reason[i]}" for m in members if self.models[m].reason[i])
                for i in range(len(self.joint.verdict))
            ]
            return ActingDecision(name, self.joint.verdict, np.array(reasons, dtype=object))
        if len(self.models) == 1:
            ((name, decision),) = self.models.items()
            return ActingDecision(name, decision.verdict, decision.reason)
        return None

    @property
    def names(self) -> list[str]:
        """The decisions shown, the joint one first."""
        return list(self.verdicts())

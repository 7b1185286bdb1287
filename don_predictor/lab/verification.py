"""The screen verified in production, on the lab's results: per decision (a backend, or Compare's "both"), model
version and limit, over a period.

- Cleared samples verified: the `below` samples the worklist drew at random (lab_picks `verify`) that the lab
  measured, and how many were truly above the limit (measured > limit, as the screening engine counts positives).
  Their share is the observed false-compliant rate: an unbiased estimate, because the draw was random. Cleared
  samples the lab measured on its own choice are counted apart (`cleared_lab_choice`): they are not a random sample.
- States: `alarm` (lower bound over α), `too_few`, `ok` (upper bound at most α), `not_shown` (neither yet).
- Bounds: one-sided 95 % Clopper–Pearson bounds (scipy.stats.beta), each a one-sided question: "is the rate above
  α?" (the lower bound over α: the alarm) and "is it shown to be at most α?" (the upper bound). With no failure the
  upper bound reaches α = 5 % at 59 verified samples (1 - 0.05^(1/n) <= 0.05): fewer, and the state is `too_few`.
- `above` calls confirmed by the lab, and the error of `send_to_lab` samples (prediction minus measured).
- A series per day (or per run) of the cumulative rate and its bounds, for a control chart.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import beta
from sqlalchemy import and_, select

from don_predictor.lab.worklist import VERIFY
from don_predictor.store.history import tables as t
from don_predictor.store.history.db import engine
from don_predictor.store.history.store import plain_errors
from don_predictor.trust.limits import get_limit
from don_predictor.trust.screening import ABOVE, BELOW, SEND_TO_LAB

LEVEL = 0.95
OK, ALARM, TOO_FEW, NOT_SHOWN = "ok", "alarm", "too_few", "not_shown"
JOINT = "both"


def lower_bound(k: int, n: int, level: float = LEVEL) -> float:
    """One-sided Clopper–Pearson lower bound of a rate seen k times in n (0 when k is 0)."""
    return 0.0 if k == 0 or n == 0 else float(beta.ppf(1 - level, k, n - k + 1))


def upper_bound(k: int, n: int, level: float = LEVEL) -> float:
    """One-sided Clopper–Pearson upper bound (1 when n is 0 or k is n)."""
    return 1.0 if n == 0 or k == n else float(beta.ppf(level, k + 1, n - k))


def needed_verified(alpha: float, level: float = LEVEL) -> int:
    """The fewest verified cleared samples whose upper bound, with none found above, is at most α (59 at 5 %)."""
    return math.ceil(round(math.log(1 - level) / math.log(1 - alpha), 9))


@dataclass(frozen=True)
class Verification:
    decided_by: str
    model_version: str
    limit_key: str
    limit_ppb: float
    alpha: float
    verified: int  # randomly drawn cleared samples the lab measured
    truly_above: int  # of them, measured above the limit
    lower: float
    upper: float
    needed: int
    cleared_lab_choice: int  # cleared samples measured on the lab's own choice (not in the rate)
    cleared_lab_choice_above: int
    above_calls: int
    above_confirmed: int
    sent_to_lab: int
    sent_mae_ppb: float | None
    sent_bias_ppb: float | None
    series: pd.DataFrame = field(repr=False, compare=False, default_factory=pd.DataFrame)

    @property
    def rate(self) -> float | None:
        return self.truly_above / self.verified if self.verified else None

    @property
    def state(self) -> str:
        """`alarm`: the evidence says the rate is over α (lower bound over α); `too_few`: fewer verified than
        could ever show it under α; `ok`: shown to be at most α (upper bound); `not_shown`: neither, yet."""
        if self.lower > self.alpha:
            return ALARM
        if self.verified < self.needed:
            return TOO_FEW
        return OK if self.upper <= self.alpha else NOT_SHOWN

    @property
    def message(self) -> str:
        seen = f"{self.truly_above} of {self.verified} verified cleared samples were above {self.limit_ppb:,.0f} ppb"
        bounds = f"(95 % bounds {self.lower:.1%} to {self.upper:.1%})"
        if self.state == ALARM:
            return f"{seen} {bounds}: the false-compliant rate is over {self.alpha:.0%}. Stop clearing; recalibrate."
        if self.state == TOO_FEW:
            return (
                f"{seen}: too few to say anything yet ({self.needed} are needed to show a rate under {self.alpha:.0%})"
            )
        if self.state == NOT_SHOWN:
            return f"{seen} {bounds}: not yet shown to be under {self.alpha:.0%}; keep verifying"
        return f"{seen} {bounds}: at most {self.alpha:.0%}, as the screen promises"


def verification_stats(outcomes: pd.DataFrame, alpha: float, by: str = "day") -> list[Verification]:
    """The figures of lab_outcomes' frame (or one built by hand), one per decision, model version and limit."""
    out = []
    if outcomes.empty:
        return out
    for (decided_by, version, limit_key), group in outcomes.groupby(["decided_by", "model_version", "limit_key"]):
        try:
            limit = get_limit(limit_key).ppb
        except ValueError:  # a run recorded without a limit: nothing to verify against
            continue
        above = group["measured_ppb"].to_numpy(float) > limit
        verdict, purpose = group["verdict"].to_numpy(object), group["purpose"].fillna("").to_numpy(object)
        picked = (verdict == BELOW) & (purpose == VERIFY)
        own = (verdict == BELOW) & ~picked
        sent = verdict == SEND_TO_LAB
        error = (group["ppb"].to_numpy(float) - group["measured_ppb"].to_numpy(float))[sent]
        error = error[np.isfinite(error)]
        k, n = int(above[picked].sum()), int(picked.sum())
        out.append(
            Verification(
                decided_by=decided_by,
                model_version=version,
                limit_key=limit_key,
                limit_ppb=limit,
                alpha=alpha,
                verified=n,
                truly_above=k,
                lower=lower_bound(k, n),
                upper=upper_bound(k, n),
                needed=needed_verified(alpha),
                cleared_lab_choice=int(own.sum()),
                cleared_lab_choice_above=int(above[own].sum()),
                above_calls=int((verdict == ABOVE).sum()),
                above_confirmed=int(above[verdict == ABOVE].sum()),
                sent_to_lab=int(sent.sum()),
                sent_mae_ppb=float(np.abs(error).mean()) if len(error) else None,
                sent_bias_ppb=float(error.mean()) if len(error) else None,
                series=_series(group[picked], above[picked], by),
            )
        )
    return out


def _series(picked: pd.DataFrame, above: np.ndarray, by: str) -> pd.DataFrame:
    """Per day (or run) of screening: verified, found above, and the cumulative rate with its bounds."""
    columns = ["period", "verified", "truly_above", "cumulative_verified", "cumulative_rate", "lower", "upper"]
    if picked.empty:
        return pd.DataFrame(columns=columns)
    key = picked["created_at"].dt.floor("D") if by == "day" else picked["run_id"]
    frame = pd.DataFrame({"period": key.to_numpy(), "created_at": picked["created_at"].to_numpy(), "above": above})
    per = frame.groupby("period", sort=False).agg(
        verified=("above", "size"), truly_above=("above", "sum"), first=("created_at", "min")
    )
    per = per.sort_values("first").drop(columns="first").reset_index()
    n, k = per["verified"].cumsum(), per["truly_above"].cumsum()
    per["cumulative_verified"], per["cumulative_rate"] = n, k / n
    per["lower"] = [lower_bound(int(a), int(b)) for a, b in zip(k, n, strict=True)]
    per["upper"] = [upper_bound(int(a), int(b)) for a, b in zip(k, n, strict=True)]
    return per[columns]


# --- the history's side ------------------------------------------------------------------------------------------


@plain_errors
def lab_outcomes(db: str | Path, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    """One row per lab result and decision, for runs screened in [since, until): the run, its time, versions and
    limit, the decision (whose, its verdict and ppb), whether the row was drawn to verify, and the lab's value.
    A run recorded without a worklist gives one row per backend, every result there counted as the lab's choice."""
    lr, r, w, p, res = t.lab_results, t.runs, t.lab_worklists, t.lab_picks, t.results
    window = ([r.c.created_at >= since] if since else []) + ([r.c.created_at < until] if until else [])
    key = and_(p.c.run_id == lr.c.run_id, p.c.position == lr.c.position)
    query = (
        select(
            lr.c.run_id,
            lr.c.position,
            lr.c.measured_ppb,
            r.c.created_at,
            r.c.model_versions,
            r.c.limit_key,
            w.c.decided_by,
            p.c.purpose,
            p.c.verdict.label("picked_verdict"),
            res.c.backend,
            res.c.verdict,
            res.c.ppb,
        )
        .join(r, r.c.run_id == lr.c.run_id)
        .join(res, and_(res.c.run_id == lr.c.run_id, res.c.position == lr.c.position))
        .outerjoin(w, w.c.run_id == lr.c.run_id)
        .outerjoin(p, key)
        .where(*window)
    )
    with engine(db).connect() as connection:
        rows = pd.DataFrame(
            [tuple(row) for row in connection.execute(query)], columns=list(query.selected_columns.keys())
        )
    return decisions(rows)


def decisions(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-backend rows folded into one row per decision: the worklist's decision when the run has one (its
    recorded verdict; "both" is below only when every backend is, above only when every one is), else each
    backend on its own."""
    columns = ["run_id", "position", "created_at", "decided_by", "model_version", "limit_key"]
    columns += ["verdict", "ppb", "purpose", "measured_ppb"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.assign(created_at=pd.to_datetime(rows["created_at"], utc=True), limit_key=rows["limit_key"].fillna(""))
    out = []
    for (_run, _position), group in rows.groupby(["run_id", "position"], sort=False):
        head = group.iloc[0]
        versions = json.loads(head["model_versions"] or "{}")
        chosen = head["decided_by"] if isinstance(head["decided_by"], str) else None
        for decided_by in [chosen] if chosen else group["backend"].tolist():
            members = group if decided_by == JOINT else group[group["backend"] == decided_by]
            if members.empty:
                continue
            verdict = head["picked_verdict"] if isinstance(head["picked_verdict"], str) else _joint(members["verdict"])
            names = members["backend"].tolist()
            out.append(
                {
                    "run_id": head["run_id"],
                    "position": int(head["position"]),
                    "created_at": head["created_at"],
                    "decided_by": decided_by,
                    "model_version": ", ".join(f"{b} {versions.get(b, '?')}" for b in names),
                    "limit_key": head["limit_key"],
                    "verdict": verdict,
                    "ppb": float(pd.to_numeric(members["ppb"], errors="coerce").mean()),
                    "purpose": head["purpose"] if chosen and isinstance(head["purpose"], str) else "",
                    "measured_ppb": float(head["measured_ppb"]),
                }
            )
    return pd.DataFrame(out, columns=columns)


def _joint(verdicts: pd.Series) -> str:
    found = set(verdicts.fillna("").astype(str))
    if found == {BELOW}:
        return BELOW
    return ABOVE if found == {ABOVE} else SEND_TO_LAB


def current_model_rows(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per decision and limit, only the rows of the model version that screened most recently: the one in use."""
    if outcomes.empty:
        return outcomes
    newest = outcomes.sort_values("created_at").groupby(["decided_by", "limit_key"])["model_version"].last()
    current = outcomes.set_index(["decided_by", "limit_key"])["model_version"].eq(
        newest.reindex(pd.MultiIndex.from_frame(outcomes[["decided_by", "limit_key"]])).to_numpy()
    )
    return outcomes[current.to_numpy()]


def refresh_verification_metrics(db: str | Path, alpha: float, since: datetime | None = None) -> list[Verification]:
    """The Prometheus gauges (services/metrics.py) from the lab results of runs since `since`: for the metrics
    refresh loop. Returns the figures it set."""
    from don_predictor.services import metrics

    found = verification_stats(current_model_rows(lab_outcomes(db, since)), alpha)
    metrics.observe_verification(found, alpha, needed_verified(alpha))
    return found

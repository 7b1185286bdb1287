"""The screen verified in production, on the lab's results: per decision (a backend, or Compare's "both"), model
version and limit, over a period.

The false-compliant rate is P(called below | truly above): truly-above samples cleared, over all truly-above
samples. The lab never measures most cleared samples, so it is estimated from the random verification draw:

- p = the share of cleared samples that are truly above, seen as k truly above (measured > limit, as the screening
  engine counts positives) among the n cleared samples the worklists drew at random (lab_picks `verify`) that the
  lab measured. Cleared samples the lab measured on its own choice are counted apart (`cleared_lab_choice`): they
  are not a random sample.
- C = the cleared samples of the runs whose worklists drew them (lab_worklists.cleared): C x p are the truly-above
  samples the screen cleared. A = the truly-above samples it did not clear: the lab-measured `send_to_lab` and
  `above` samples measured above, plus the `above` calls the lab did not measure (they are rejected as above; the
  false-suspect calibration keeps few of them truly below). `send_to_lab` samples without a lab value are left out
  of A, which can only raise the rate: the safe side.
- false-compliant rate = C p / (C p + A). It grows with p, so the bounds of p give its bounds.
- Bounds: one-sided 95 % Clopper–Pearson bounds on p (scipy.stats.beta), each answering a one-sided question: "is
  the rate over α?" (the lower bound over α: `alarm`) and "is it shown to be at most α?" (the upper bound: `ok`).
  `too_few`: so few verified that even with none found above the upper bound would stay over α (`needed` says how
  many would do; with nothing confirmed above yet, no number would). 59 (1 - 0.05^(1/n) <= α) when as many truly-
  above samples were confirmed as cleared ones exist (A = 0.95 C); usually more, since truly-above samples are a
  minority: 100 cleared and 40 confirmed above need 141 verified, all with none above, to show 5 %.
  `not_shown`: enough verified, but the rate is not yet shown to be under α nor over it.
- The share assumed constant over the period (the draw pools runs: with shares that changed, C x p is approximate).
- `above` calls confirmed by the lab, and the error of `send_to_lab` samples (prediction minus measured).
- A series per day (or per run) of the cumulative figures, for a control chart.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import beta
from sqlalchemy import and_, select

from don_predictor.lab.worklist import VERIFY
from don_predictor.scoring.run import JOINT
from don_predictor.store.history import tables as t
from don_predictor.store.history.db import engine
from don_predictor.store.history.store import plain_errors
from don_predictor.trust.limits import get_limit
from don_predictor.trust.screening import ABOVE, BELOW, SEND_TO_LAB, joint_verdict

LEVEL = 0.95
OK, ALARM, TOO_FEW, NOT_SHOWN = "ok", "alarm", "too_few", "not_shown"
GROUP = ["decided_by", "model_version", "limit_key"]


def lower_bound(k: int, n: int, level: float = LEVEL) -> float:
    """One-sided Clopper–Pearson lower bound of a rate seen k times in n (0 when k is 0)."""
    return 0.0 if k == 0 or n == 0 else float(beta.ppf(1 - level, k, n - k + 1))


def upper_bound(k: int, n: int, level: float = LEVEL) -> float:
    """One-sided Clopper–Pearson upper bound (1 when n is 0 or k is n)."""
    return 1.0 if n == 0 or k == n else float(beta.ppf(level, k + 1, n - k))


def needed_verified(alpha: float, level: float = LEVEL) -> int:
    """The fewest verified samples whose upper bound, with none found above, is at most α (59 at 5 %): the number
    `needed_for` gives when the screen clears nearly every truly-above sample."""
    return math.ceil(round(math.log(1 - level) / math.log(1 - alpha), 9))


def false_compliant(p: float, cleared: int, confirmed_above: int) -> float:
    """C p / (C p + A): the share of truly-above samples cleared, for a share p of the cleared ones truly above."""
    truly_cleared = cleared * p
    total = truly_cleared + confirmed_above
    return truly_cleared / total if total > 0 else 0.0


def needed_for(alpha: float, cleared: int, confirmed_above: int, level: float = LEVEL) -> float:
    """Verified samples needed to show the false-compliant rate under α if none is found above; inf when no count
    would (nothing confirmed above yet), 0 when nothing was cleared (nothing can be falsely cleared)."""
    if cleared == 0:
        return 0.0
    if confirmed_above == 0:
        return math.inf
    p_max = alpha * confirmed_above / (cleared * (1 - alpha))  # the largest p whose rate is still at most α
    if p_max >= 1:
        return 1.0
    return float(math.ceil(round(math.log(1 - level) / math.log(1 - p_max), 9)))


@dataclass(frozen=True)
class Verification:
    decided_by: str
    model_version: str
    limit_key: str
    limit_ppb: float
    alpha: float
    verified: int  # n: randomly drawn cleared samples the lab measured
    truly_above: int  # k: of them, measured above the limit
    cleared: int  # C: cleared samples of the runs the draw came from
    confirmed_above: int  # A: truly-above samples not cleared (measured above, or called above and not measured)
    rate: float | None  # the estimated false-compliant rate (None: nothing measured says anything)
    lower: float
    upper: float
    needed: float  # verified samples needed to show the rate under α with none found above (inf: no number would)
    cleared_lab_choice: int  # cleared samples measured on the lab's own choice (not in the estimate)
    cleared_lab_choice_above: int
    above_calls: int
    above_confirmed: int
    sent_to_lab: int
    sent_mae_ppb: float | None
    sent_bias_ppb: float | None
    series: pd.DataFrame = field(repr=False, compare=False, default_factory=pd.DataFrame)

    @property
    def cleared_above_share(self) -> float | None:
        """k / n: the share of cleared samples truly above (what the draw sees directly)."""
        return self.truly_above / self.verified if self.verified else None

    @property
    def state(self) -> str:
        """`alarm`, `too_few`, `ok` or `not_shown` (see the module's docstring)."""
        if self.lower > self.alpha:
            return ALARM
        if self.verified < self.needed:
            return TOO_FEW
        return OK if self.upper <= self.alpha else NOT_SHOWN

    @property
    def message(self) -> str:
        seen = f"{self.truly_above} of {self.verified} verified cleared samples were above {self.limit_ppb:,.0f} ppb"
        rate = "" if self.rate is None else f"; false-compliant rate about {self.rate:.1%}"
        bounds = f"(95 % bounds {self.lower:.1%} to {self.upper:.1%})"
        if self.state == ALARM:
            return f"{seen}{rate} {bounds}: over {self.alpha:.0%}. Stop clearing on this model; recalibrate."
        if self.state == TOO_FEW:
            needed = "more confirmed samples" if math.isinf(self.needed) else f"{self.needed:.0f} verified"
            return f"{seen}: too few to say anything yet ({needed} are needed to show a rate under {self.alpha:.0%})"
        if self.state == NOT_SHOWN:
            return f"{seen}{rate} {bounds}: not yet shown to be under {self.alpha:.0%}; keep verifying"
        return f"{seen}{rate} {bounds}: at most {self.alpha:.0%}, as the screen promises"


def verification_stats(
    outcomes: pd.DataFrame, alpha: float, worklists: pd.DataFrame | None = None, by: str = "day"
) -> list[Verification]:
    """The figures of lab_outcomes' frame and worklist_runs' (or frames built by hand), one per decision, model
    version and limit. Without `worklists`, C is the cleared samples among the measured ones (a lower bound)."""
    out = []
    if outcomes.empty and worklists is None:
        return out
    empty = pd.DataFrame(columns=[*GROUP, "run_id", "created_at", "cleared", "called_above"])
    drawn = worklists if worklists is not None else empty
    # Every decision with lab results or a worklist: a model whose draws have no lab result yet is `too_few`.
    keys = sorted({*map(tuple, outcomes[GROUP].to_numpy()), *map(tuple, drawn[GROUP].to_numpy())})
    for key in keys:
        decided_by, version, limit_key = key
        group = outcomes[(outcomes[GROUP] == pd.Series(key, index=GROUP)).all(axis=1)] if len(outcomes) else outcomes
        try:
            limit = get_limit(limit_key).ppb
        except ValueError:  # a run recorded without a limit: nothing to verify against
            continue
        runs = drawn[(drawn[GROUP] == pd.Series(key, index=GROUP)).all(axis=1)]
        figures = _figures(group, limit, runs if worklists is not None else None)
        error = figures.pop("error")
        out.append(
            Verification(
                decided_by=decided_by,
                model_version=version,
                limit_key=limit_key,
                limit_ppb=limit,
                alpha=alpha,
                **figures,
                needed=needed_for(alpha, figures["cleared"], figures["confirmed_above"]),
                sent_mae_ppb=float(np.abs(error).mean()) if len(error) else None,
                sent_bias_ppb=float(error.mean()) if len(error) else None,
                series=_series(group, limit, runs if worklists is not None else None, by),
            )
        )
    return out


def _figures(group: pd.DataFrame, limit: float, runs: pd.DataFrame | None) -> dict:
    above = group["measured_ppb"].to_numpy(float) > limit
    verdict, purpose = group["verdict"].to_numpy(object), group["purpose"].fillna("").to_numpy(object)
    picked = (verdict == BELOW) & (purpose == VERIFY)
    own = (verdict == BELOW) & ~picked
    sent = verdict == SEND_TO_LAB
    k, n = int(above[picked].sum()), int(picked.sum())
    cleared = int(runs["cleared"].sum()) if runs is not None else int((verdict == BELOW).sum())
    unmeasured_above = (
        max(int(runs["called_above"].sum()) - int((verdict == ABOVE).sum()), 0) if runs is not None else 0
    )
    confirmed_above = int(above[verdict != BELOW].sum()) + unmeasured_above
    measured_anything = n > 0 or confirmed_above > 0
    error = (group["ppb"].to_numpy(float) - group["measured_ppb"].to_numpy(float))[sent]
    return {
        "verified": n,
        "truly_above": k,
        "cleared": cleared,
        "confirmed_above": confirmed_above,
        "rate": false_compliant(k / n, cleared, confirmed_above) if n else (0.0 if cleared == 0 else None),
        "lower": false_compliant(lower_bound(k, n), cleared, confirmed_above) if measured_anything else 0.0,
        "upper": false_compliant(upper_bound(k, n), cleared, confirmed_above) if measured_anything else 1.0,
        "cleared_lab_choice": int(own.sum()),
        "cleared_lab_choice_above": int(above[own].sum()),
        "above_calls": int((verdict == ABOVE).sum()),
        "above_confirmed": int(above[verdict == ABOVE].sum()),
        "sent_to_lab": int(sent.sum()),
        "error": error[np.isfinite(error)],
    }


def _series(group: pd.DataFrame, limit: float, runs: pd.DataFrame | None, by: str) -> pd.DataFrame:
    """Per day (or run) of screening, in time order: verified, found above, and the cumulative figures."""
    columns = ["period", "verified", "truly_above", "cumulative_verified", "cumulative_rate", "lower", "upper"]

    def period(frame: pd.DataFrame) -> pd.Series:
        return frame["created_at"].dt.floor("D") if by == "day" else frame["run_id"]

    group = group.assign(created_at=pd.to_datetime(group["created_at"], utc=True))
    group = group.assign(period=period(group) if len(group) else [])
    periods = group.groupby("period", sort=False)["created_at"].min()
    if runs is not None and not runs.empty:
        runs = runs.assign(created_at=pd.to_datetime(runs["created_at"], utc=True))
        runs = runs.assign(period=period(runs))
        periods = pd.concat([periods, runs.groupby("period", sort=False)["created_at"].min()]).groupby(level=0).min()
    order = list(periods.sort_values().index)
    rows = []
    for i, key in enumerate(order):
        done = set(order[: i + 1])
        seen = group[group["period"].isin(done)]
        drawn = runs[runs["period"].isin(done)] if runs is not None else None
        total, mine = _figures(seen, limit, drawn), _figures(group[group["period"] == key], limit, None)
        rows.append(
            (
                key,
                mine["verified"],
                mine["truly_above"],
                total["verified"],
                total["rate"],
                total["lower"],
                total["upper"],
            )
        )
    return pd.DataFrame(rows, columns=columns)


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


def version_label(versions: dict, backends: list[str]) -> str:
    """The model versions a decision came from: "rf 2026…", or "rf 2026…, tf 2026…" for the joint one."""
    return ", ".join(f"{b} {versions.get(b, '?')}" for b in sorted(backends))


@plain_errors
def worklist_runs(db: str | Path, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    """The runs screened in [since, until) that drew a worklist: their decision, versions, limit and how many
    samples they cleared (C of the false-compliant estimate)."""
    r, w = t.runs, t.lab_worklists
    window = ([r.c.created_at >= since] if since else []) + ([r.c.created_at < until] if until else [])
    query = select(
        r.c.run_id, r.c.created_at, r.c.model_versions, r.c.limit_key, w.c.decided_by, w.c.cleared, w.c.called_above
    ).join(w, w.c.run_id == r.c.run_id)
    with engine(db).connect() as connection:
        found = pd.DataFrame(
            [tuple(row) for row in connection.execute(query.where(*window))],
            columns=list(query.selected_columns.keys()),
        )
    versions = [json.loads(v or "{}") for v in found["model_versions"]]
    found["model_version"] = [
        version_label(v, list(v) if d == JOINT else [d]) for v, d in zip(versions, found["decided_by"], strict=True)
    ]
    found["created_at"] = pd.to_datetime(found["created_at"], utc=True)
    found["limit_key"] = found["limit_key"].fillna("")
    return found[["run_id", "created_at", *GROUP, "cleared", "called_above"]]


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
            out.append(
                {
                    "run_id": head["run_id"],
                    "position": int(head["position"]),
                    "created_at": head["created_at"],
                    "decided_by": decided_by,
                    "model_version": version_label(versions, members["backend"].tolist()),
                    "limit_key": head["limit_key"],
                    "verdict": verdict,
                    "ppb": float(pd.to_numeric(members["ppb"], errors="coerce").mean()),
                    "purpose": head["purpose"] if chosen and isinstance(head["purpose"], str) else "",
                    "measured_ppb": float(head["measured_ppb"]),
                }
            )
    return pd.DataFrame(out, columns=columns)


def _joint(verdicts: pd.Series) -> str:
    """The decision the backends' verdicts make together, by the joint rule the pages use (trust.screening)."""
    return str(reduce(joint_verdict, [np.array([v], dtype=object) for v in verdicts.fillna("").astype(str)])[0])


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

    found = verification_stats(current_model_rows(lab_outcomes(db, since)), alpha, worklist_runs(db, since))
    metrics.observe_verification(found, alpha)
    return found

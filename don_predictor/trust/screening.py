"""Screening verdicts a lab can act on: `below`, `above` or `send_to_lab` against any limit, per sample and per lot.

The engine is label-conditional (Mondrian) conformal classification on the model's own regression score. At training
time the bundle keeps, per backend, the out-of-fold predictions (scores) and the measured values of its calibration
data (`ScreeningCalibration`). At prediction time, for any limit L (a listed one or a typed ppb value):

- the samples measured above L are the positives. A new sample is `below` when its score is under the k-th smallest
  positive score, k = floor(α (n_above + 1)). By exchangeability a truly-above sample gets `below` with probability
  at most k / (n_above + 1) ≤ α: the false-compliant rate is at most α, whatever the model's accuracy.
- likewise, a sample is `above` when its score is over the k'-th largest score of the truly-below samples,
  k' = floor(β (n_below + 1)): the false-suspect rate is at most β.
- everything else, and every spectrum outside the calibration domain, is `send_to_lab`.

With fewer than ⌈1/α⌉ − 1 truly-above calibration samples k is 0: no sample can be cleared at that risk level. The
engine says so in the verdict's reason instead of deciding.

Two more conditions guard `above`, because a rejection must mean "likely above", and the false-suspect rate alone
does not say that when contaminated samples are rare (most samples are below a high limit, so their top 5 % can
outnumber every truly-above sample). On the dev data at 10 ppm, the plain rule's cut-off was a score of 3,982 ppb
and fewer than half of its calls were truly above. So:
- the score must also be over the limit itself (a sample the model puts at 7,000 ppb is never "above 50,000");
- the calibration data must hold at least ⌈1/β⌉ − 1 samples truly above the limit (19 at β = 5 %), as many as
  clearing needs: with fewer, nothing shows that a high score means a high DON, and the engine says so.
Both only make `above` rarer, so the false-suspect bound still holds.

Written by hand rather than with MAPIE or crepes: the thresholds are one rank lookup in two stored arrays, so any
limit typed at prediction time costs nothing, the bundle stays plain arrays (no pickled estimator), and the
finite-sample rule is visible in ten lines. The regression score was chosen over a per-limit classifier score by
`make bench-screening` (docs/validation_report.md): a classifier would have to be trained per limit in advance,
which rules out typed limits, and did not decide more samples at the same risk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BELOW, SEND_TO_LAB, ABOVE = "below", "send_to_lab", "above"
VERDICTS = (BELOW, SEND_TO_LAB, ABOVE)
DEFAULT_FALSE_COMPLIANT_RATE = 0.05  # α: a truly-above sample called `below` (EU 519/2014 asks for < 5 %)
DEFAULT_FALSE_SUSPECT_RATE = 0.05  # β: a truly-below sample called `above`

ENGINE_CONFORMAL = "conformal"  # Mondrian conformal thresholds on stored out-of-fold scores
ENGINE_INTERVAL = "interval"  # bundles saved before the screening calibration: the 90 % interval rule


def positives_needed(alpha: float) -> int:
    """The fewest truly-above calibration samples that let the finite-sample rule clear anything at risk α."""
    return math.ceil(round(1.0 / alpha, 9)) - 1


@dataclass(frozen=True)
class Risk:
    """The two error rates the verdicts are calibrated for."""

    false_compliant: float = DEFAULT_FALSE_COMPLIANT_RATE  # α
    false_suspect: float = DEFAULT_FALSE_SUSPECT_RATE  # β

    @property
    def label(self) -> str:
        return f"false-compliant ≤ {percent(self.false_compliant)}, false-suspect ≤ {percent(self.false_suspect)}"


def percent(rate: float) -> str:
    """A rate as a percentage with the digits it has: 5%, 2.5%, 0.1% (never rounded to another bound)."""
    return f"{rate * 100:g}%"


DEFAULT_RISK = Risk()


@dataclass(frozen=True)
class Thresholds:
    """The calibrated cut-offs on the score for one limit. None: that verdict cannot be given."""

    limit_ppb: float
    risk: Risk
    below_under_ppb: float | None  # score < this: `below`
    above_over_ppb: float | None  # score > this: `above`
    n_above: int  # calibration samples measured above the limit
    n_below: int

    @property
    def needed_above(self) -> int:
        return positives_needed(self.risk.false_compliant)

    @property
    def needed_below(self) -> int:
        return positives_needed(self.risk.false_suspect)

    def notes(self) -> list[str]:
        """Plain sentences for what this calibration cannot do at this limit."""
        out = []
        if self.below_under_ppb is None:
            out.append(
                f"no sample can be cleared below {self.limit_ppb:,.0f} ppb at a {percent(self.risk.false_compliant)} "
                f"false-compliant rate: the calibration data holds {self.n_above} samples above that limit and "
                f"needs at least {self.needed_above}"
            )
        if self.above_over_ppb is None and self.n_below < self.needed_below:
            out.append(
                f"no sample can be called above {self.limit_ppb:,.0f} ppb at a {percent(self.risk.false_suspect)} "
                f"false-suspect rate: the calibration data holds {self.n_below} samples at or below that limit and "
                f"needs at least {self.needed_below}"
            )
        elif self.above_over_ppb is None:
            out.append(
                f"no sample can be called above {self.limit_ppb:,.0f} ppb: the calibration data holds only "
                f"{self.n_above} samples above that limit, too few to show that a high score means high DON "
                f"(needs at least {self.needed_below}); high scores go to the lab"
            )
        return out


def _rank_index(n: int, rate: float) -> int:
    """k = floor(rate · (n + 1)): the rank (1-based) of the calibration score that is the cut-off; 0 means none."""
    return math.floor(rate * (n + 1) + 1e-9)


@dataclass
class ScreeningCalibration:
    """Out-of-fold scores and measured values of a model's calibration data (one score per sample)."""

    y_ppb: np.ndarray
    score_ppb: np.ndarray

    def __post_init__(self) -> None:
        self.y_ppb = np.asarray(self.y_ppb, float)
        self.score_ppb = np.asarray(self.score_ppb, float)
        keep = np.isfinite(self.y_ppb) & np.isfinite(self.score_ppb)
        self.y_ppb, self.score_ppb = self.y_ppb[keep], self.score_ppb[keep]

    def thresholds(self, limit_ppb: float, risk: Risk = DEFAULT_RISK, limit_score: float | None = None) -> Thresholds:
        """The cut-offs for one limit. `limit_score` is the score that means "at the limit": the limit itself for
        a score in ppb (the default); benchmarks thresholding another score (a probability) pass their own."""
        above = self.y_ppb > limit_ppb
        positives = np.sort(self.score_ppb[above])
        negatives = np.sort(self.score_ppb[~above])
        k = _rank_index(len(positives), risk.false_compliant)
        k_neg = _rank_index(len(negatives), risk.false_suspect)
        below_under = float(positives[k - 1]) if k >= 1 else None  # the k-th smallest truly-above score
        above_over = float(negatives[len(negatives) - k_neg]) if k_neg >= 1 else None  # the k'-th largest
        if above_over is not None:  # `above` also needs a score over the limit and enough truly-above samples
            at_limit = float(limit_ppb if limit_score is None else limit_score)
            enough_positives = len(positives) >= positives_needed(risk.false_suspect)
            above_over = max(above_over, at_limit) if enough_positives else None
        return Thresholds(float(limit_ppb), risk, below_under, above_over, len(positives), len(negatives))


@dataclass
class Verdicts:
    verdict: np.ndarray  # below / above / send_to_lab; "" for rows that were not scored
    reason: np.ndarray  # a short plain reason per row


def conformal_verdicts(score_ppb: np.ndarray, in_domain: np.ndarray, thresholds: Thresholds) -> Verdicts:
    """The engine's verdict per sample. NaN scores (rows not scored) get an empty verdict and reason."""
    score = np.asarray(score_ppb, float)
    trusted = np.asarray(in_domain, bool)
    n = len(score)
    verdict = np.full(n, SEND_TO_LAB, dtype=object)
    reason = np.full(n, "between the thresholds: the score cannot tell at this risk", dtype=object)
    below = np.zeros(n, bool) if thresholds.below_under_ppb is None else score < thresholds.below_under_ppb
    above = np.zeros(n, bool) if thresholds.above_over_ppb is None else score > thresholds.above_over_ppb
    few_to_call_above = thresholds.above_over_ppb is None and thresholds.n_above < thresholds.needed_below
    if thresholds.below_under_ppb is None:
        what, needed = "clear any", thresholds.needed_above
        if few_to_call_above:
            what, needed = "decide", max(thresholds.needed_above, thresholds.needed_below)
        reason[~above] = (
            f"too few calibration samples above the limit to {what} ({thresholds.n_above}; {needed} needed)"
        )
    elif few_to_call_above:  # clearing works, calling above does not (β smaller than α): say so for high scores
        reason[score > thresholds.limit_ppb] = (
            f"too few calibration samples above the limit to call it above ({thresholds.n_above}; "
            f"{thresholds.needed_below} needed)"
        )
    conflict = below & above  # both cut-offs crossed: the calibration cannot order this sample
    # Each reason names the limit and the risk it was decided at: a results file read on its own still says so.
    limit, risk = f"{thresholds.limit_ppb:,.0f} ppb", thresholds.risk
    verdict[below & ~conflict] = BELOW
    reason[below & ~conflict] = (
        f"score under {thresholds.below_under_ppb or 0:,.0f} ppb: below {limit}, "
        f"false-compliant ≤ {percent(risk.false_compliant)}"
    )
    verdict[above & ~conflict] = ABOVE
    reason[above & ~conflict] = (
        f"score over {thresholds.above_over_ppb or 0:,.0f} ppb: above {limit}, "
        f"false-suspect ≤ {percent(risk.false_suspect)}"
    )
    verdict[conflict] = SEND_TO_LAB
    reason[conflict] = "both thresholds crossed: the calibration cannot tell"
    verdict[~trusted] = SEND_TO_LAB
    reason[~trusted] = "outside the calibration domain: not trusted"
    missing = np.isnan(score)
    verdict[missing] = ""
    reason[missing] = ""
    return Verdicts(verdict, reason)


def interval_verdicts(low_ppb: np.ndarray, high_ppb: np.ndarray, in_domain: np.ndarray, limit_ppb: float) -> Verdicts:
    """Models saved before the screening calibration: `below` / `above` when the whole 90 % interval is on one
    side and the spectrum is in domain, else `send_to_lab`. No controlled false-compliant rate."""
    low, high = np.asarray(low_ppb, float), np.asarray(high_ppb, float)
    trusted = np.asarray(in_domain, bool)
    verdict = np.full(len(low), SEND_TO_LAB, dtype=object)
    reason = np.full(len(low), "interval rule (older model): the interval straddles the limit", dtype=object)
    below, above = trusted & (high < limit_ppb), trusted & (low > limit_ppb)
    verdict[below], reason[below] = BELOW, "interval rule (older model): the whole interval is under the limit"
    verdict[above], reason[above] = ABOVE, "interval rule (older model): the whole interval is over the limit"
    reason[~trusted] = "outside the calibration domain: not trusted"
    missing = np.isnan(low) | np.isnan(high)
    verdict[missing], reason[missing] = "", ""
    return Verdicts(verdict, reason)


# --- lots --------------------------------------------------------------------------------------------------------


def lot_verdict(verdicts: list[str]) -> str:
    """A lot is `above` if any sample is above, `below` only if every sample is below, else `send_to_lab`."""
    if any(v == ABOVE for v in verdicts):
        return ABOVE
    if verdicts and all(v == BELOW for v in verdicts):
        return BELOW
    return SEND_TO_LAB


def joint_verdict(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Two models' verdicts as one decision: `below` only when both clear the sample, `above` only when both reject
    it, else `send_to_lab` (empty when neither scored it). A truly-above sample is cleared only if each model clears
    it, so each model's false-compliant bound (and likewise false-suspect) holds for the joint verdict too."""
    a, b = np.asarray(first, dtype=object), np.asarray(second, dtype=object)
    out = np.full(len(a), SEND_TO_LAB, dtype=object)
    out[(a == BELOW) & (b == BELOW)] = BELOW
    out[(a == ABOVE) & (b == ABOVE)] = ABOVE
    out[(a == "") & (b == "")] = ""
    return out

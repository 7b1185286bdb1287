"""decide(run, limit, risk) -> Decisions: every verdict of a run, computed once (per model, joint, per lot)."""

from __future__ import annotations

from don_predictor.scoring.run import Decisions, JointDecision, Lots, ModelDecision, ScoredRun
from don_predictor.trust.screening import (
    DEFAULT_RISK,
    ENGINE_CONFORMAL,
    Risk,
    conformal_verdicts,
    interval_verdicts,
    joint_verdict,
)


def decide(
    run: ScoredRun, limit_ppb: float, risk: Risk = DEFAULT_RISK, *, demo: frozenset[str] = frozenset()
) -> Decisions:
    """Each model's verdicts against `limit_ppb` at `risk` (the screening engine, or the interval rule for models
    saved before it); with two models that have verdicts, their joint decision (see deciding_backends: `demo`
    names the models trained on synthetic spectra); with lots, the verdicts by lot."""
    models = {}
    for name, scores in run.backends.items():
        engine = scores.engine
        if engine is None:  # no calibration (trained without cross-validation): no verdicts
            continue
        trusted = scores.trusted_for_verdicts
        if engine == ENGINE_CONFORMAL:
            thresholds = scores.calibration.thresholds(limit_ppb, risk)
            decided = conformal_verdicts(scores.ppb, trusted, thresholds)
        else:
            thresholds = None
            decided = interval_verdicts(scores.low, scores.high, trusted, limit_ppb)
        models[name] = ModelDecision(decided.verdict, decided.reason, thresholds)
    joint = _joint(run, models, frozenset(demo)) if len(models) >= 2 else None
    decisions = Decisions(float(limit_ppb), risk, models, joint, None, frozenset(demo))
    if run.lots is None:
        return decisions
    lots = Lots(run.lots, [str(i) for i in run.ids], decisions.verdicts(), run.lot_column or "lot")
    return Decisions(float(limit_ppb), risk, models, joint, lots, frozenset(demo))


def deciding_backends(demo: set[str] | frozenset[str], backends: tuple[str, ...] = ("rf", "tf")) -> list[str]:
    """The models the joint (BOTH) decision is made of: all, unless exactly one is real beside demo models
    (trained on synthetic spectra), whose verdicts say nothing about real samples: then the real model alone."""
    real = [b for b in backends if b not in demo]
    return real if len(real) == 1 else list(backends)


def _joint(run: ScoredRun, models: dict[str, ModelDecision], demo: frozenset[str]) -> JointDecision:
    """`below` only when each deciding model clears the sample, `above` only when each rejects it."""
    first, *others = deciding_backends(demo, tuple(models))
    verdict, in_domain = models[first].verdict, run.backends[first].in_domain
    for other in others:
        verdict = joint_verdict(verdict, models[other].verdict)
        if in_domain is not None and run.backends[other].in_domain is not None:
            in_domain = in_domain & run.backends[other].in_domain
    return JointDecision(verdict, in_domain, (first, *others))

"""Side-by-side scoring by both backends: the differences and how well the two agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from don_predictor.config import SCREENING_LIMIT_PPB
from don_predictor.trust.screening import joint_verdict


def add_differences(results: pd.DataFrame) -> pd.DataFrame:
    """Adds tf_minus_rf_ppb and tf_over_rf (empty where RF predicts 0)."""
    out = results.copy()
    out["tf_minus_rf_ppb"] = out["tf_ppb"] - out["rf_ppb"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = out["tf_ppb"] / out["rf_ppb"]
    out["tf_over_rf"] = ratio.where(np.isfinite(ratio))
    return out


def agreement(rf_ppb: np.ndarray, tf_ppb: np.ndarray, limit_ppb: float = SCREENING_LIMIT_PPB) -> dict[str, float]:
    """Spearman rank correlation, share of rows on the same side of the limit, median absolute difference."""
    keep = np.isfinite(rf_ppb) & np.isfinite(tf_ppb)
    rf, tf = rf_ppb[keep], tf_ppb[keep]
    if len(rf) == 0:
        return {"n": 0, "spearman": float("nan"), "same_side_share": float("nan"), "median_abs_diff_ppb": float("nan")}
    spearman = float(spearmanr(rf, tf).statistic) if len(rf) > 2 and np.ptp(rf) > 0 and np.ptp(tf) > 0 else np.nan
    return {
        "n": len(rf),
        "spearman": spearman,
        "same_side_share": float(np.mean((rf > limit_ppb) == (tf > limit_ppb))),
        "median_abs_diff_ppb": float(np.median(np.abs(tf - rf))),
    }


def deciding_backends(demo: set[str] | frozenset[str], backends: tuple[str, ...] = ("rf", "tf")) -> list[str]:
    """The models the joint (BOTH) decision is made of: both, unless exactly one is a demo model (trained on
    synthetic spectra), whose verdicts say nothing about real samples: then the real model alone."""
    real = [b for b in backends if b not in demo]
    return real if len(real) == 1 else list(backends)


def with_joint_decision(results: pd.DataFrame, deciding: list[str]) -> pd.DataFrame:
    """Adds `both_verdict` and `both_in_domain` from the deciding models: `below` only when each clears the sample,
    `above` only when each rejects it; trusted only where each trusts it."""
    first, *others = deciding
    verdict, in_domain = results[f"{first}_verdict"].to_numpy(), results[f"{first}_in_domain"]
    for other in others:
        verdict = joint_verdict(verdict, results[f"{other}_verdict"])
        in_domain = in_domain & results[f"{other}_in_domain"]
    return results.assign(both_verdict=verdict, both_in_domain=in_domain)

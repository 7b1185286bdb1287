"""Side-by-side scoring by both backends: the differences and how well the two agree (the joint decision is
scoring.decide's)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr


def add_differences(results: pd.DataFrame) -> pd.DataFrame:
    """Adds tf_minus_rf_ppb and tf_over_rf (empty where RF predicts 0)."""
    out = results.copy()
    out["tf_minus_rf_ppb"] = out["tf_ppb"] - out["rf_ppb"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = out["tf_ppb"] / out["rf_ppb"]
    out["tf_over_rf"] = ratio.where(np.isfinite(ratio))
    return out


def agreement(rf_ppb: np.ndarray, tf_ppb: np.ndarray, limit_ppb: float) -> dict[str, float]:
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

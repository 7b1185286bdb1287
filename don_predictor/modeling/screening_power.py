"""What a model decides at a limit, measured out of fold: the figures a version is judged by (docs/model_card.md).

Cross-conformal, as the interval coverage check: each CV fold's samples get the engine's verdicts with thresholds
calibrated on the other folds' out-of-fold scores, exactly what a bundle trained without that fold would give them.
Pooled over the folds: the decided share (below + above over all samples), the cleared share, the false-compliant
rate (truly above and called below, over truly above), the false-suspect rate, and ROC AUC at the limit. Every
spectrum counts as inside the domain here (the domain model is fitted on all rows); the app sends out-of-domain
spectra to the lab on top of these verdicts.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from don_predictor.trust.screening import ABOVE, BELOW, DEFAULT_RISK, Risk, ScreeningCalibration, conformal_verdicts

# The limits every version is measured at: FDA 1 ppm and 5 ppm, and the default limit (EU unprocessed maize).
SCREENED_LIMITS_PPB = (1_000.0, 1_500.0, 5_000.0)
SCREENING_FIGURES = ("decided", "cleared", "false_compliant", "false_suspect", "auc")


def screening_power(
    y_ppb: np.ndarray, scores: np.ndarray, fold_ids: np.ndarray, limit_ppb: float, risk: Risk = DEFAULT_RISK
) -> dict[str, float]:
    """One CV repeat's out-of-fold verdicts at one limit: {figure: value} for SCREENING_FIGURES (NaN: undefined)."""
    y, scores, fold_ids = (np.asarray(a) for a in (y_ppb, scores, fold_ids))
    verdicts = np.empty(len(y), dtype=object)
    for fold in np.unique(fold_ids):
        test = fold_ids == fold
        thresholds = ScreeningCalibration(y[~test], scores[~test]).thresholds(limit_ppb, risk)
        verdicts[test] = conformal_verdicts(scores[test], np.ones(test.sum(), bool), thresholds).verdict
    truly_above = y > limit_ppb
    below, above = verdicts == BELOW, verdicts == ABOVE
    both_classes = 0 < truly_above.sum() < len(y)
    return {
        "decided": float((below | above).mean()),
        "cleared": float(below.mean()),
        "false_compliant": float(below[truly_above].mean()) if truly_above.any() else float("nan"),
        "false_suspect": float(above[~truly_above].mean()) if (~truly_above).any() else float("nan"),
        "auc": float(roc_auc_score(truly_above, scores)) if both_classes else float("nan"),
    }


def screening_summary(
    y_ppb: np.ndarray,
    oof_scores: np.ndarray,
    fold_ids: np.ndarray,
    limits_ppb: tuple[float, ...] = SCREENED_LIMITS_PPB,
    risk: Risk = DEFAULT_RISK,
) -> dict:
    """Over the repeats of a CV ((repeats, rows) scores and fold ids): what a version's manifest keeps."""
    per_limit = {}
    for limit in limits_ppb:
        runs = [screening_power(y_ppb, s, f, limit, risk) for s, f in zip(oof_scores, fold_ids, strict=True)]
        per_limit[f"{limit:g}"] = {
            figure: _mean_sd(np.array([run[figure] for run in runs], dtype=float)) for figure in SCREENING_FIGURES
        }
    return {"false_compliant_rate": risk.false_compliant, "false_suspect_rate": risk.false_suspect, "limits": per_limit}


def _mean_sd(values: np.ndarray) -> dict[str, float]:
    if np.isnan(values).all():
        return {"mean": float("nan"), "sd": 0.0}
    sd = float(np.nanstd(values, ddof=1)) if np.isfinite(values).sum() > 1 else 0.0
    return {"mean": float(np.nanmean(values)), "sd": sd}

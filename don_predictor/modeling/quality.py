"""How good a model version is, in the words a lab reads: what it decides at a limit, at what risk, and its error.

A version's manifest keeps its CV figures (`cv_metrics`): the regression metrics in ppb (`metrics`) and, since
issue 20, the out-of-fold screening figures per limit (`screening`, modeling/screening_power.py). The headline leads
with the decided share at the limit and the false-compliant rate it is calibrated for; R² in ppb comes after, since
on skewed DON data a handful of samples above 50,000 ppb decide it.
"""

from __future__ import annotations

from typing import Any

from don_predictor.trust.limits import DEFAULT_LIMIT, get_limit
from don_predictor.trust.screening import percent

DEFAULT_LIMIT_PPB = get_limit(DEFAULT_LIMIT).ppb


def screening_at(cv_metrics: dict[str, Any], limit_ppb: float = DEFAULT_LIMIT_PPB) -> dict[str, float] | None:
    """{figure: mean} of the stored screening figures at this limit; None when the version has none there."""
    limits = ((cv_metrics or {}).get("screening") or {}).get("limits") or {}
    figures = limits.get(f"{float(limit_ppb):g}")
    return {name: float(values["mean"]) for name, values in figures.items()} if figures else None


def screening_sd(cv_metrics: dict[str, Any], figure: str, limit_ppb: float = DEFAULT_LIMIT_PPB) -> float:
    limits = ((cv_metrics or {}).get("screening") or {}).get("limits") or {}
    return float(((limits.get(f"{float(limit_ppb):g}") or {}).get(figure) or {}).get("sd", 0.0))


def false_compliant_rate(cv_metrics: dict[str, Any]) -> float | None:
    """The α the stored verdict figures were calibrated at."""
    return ((cv_metrics or {}).get("screening") or {}).get("false_compliant_rate")


def _mean(cv_metrics: dict[str, Any], key: str) -> float | None:
    value = (((cv_metrics or {}).get("metrics") or {}).get(key) or {}).get("mean")
    return None if value is None else float(value)


def measured_limit(cv_metrics: dict[str, Any], limit_ppb: float) -> float:
    """The limit itself when the version was measured there, else the default limit (a limit picked in the app after
    training, or typed, has no stored figures)."""
    return limit_ppb if screening_at(cv_metrics, limit_ppb) is not None else DEFAULT_LIMIT_PPB


def headline(cv_metrics: dict[str, Any], limit_ppb: float = DEFAULT_LIMIT_PPB) -> str:
    """'decides 43 % of samples at 1,500 ppb (false-compliant ≤ 5 %), MAE 2,611 ppb, CV R² 0.47'; without CV,
    says so."""
    mae, r2 = _mean(cv_metrics, "mae_ppb"), _mean(cv_metrics, "r2")
    if mae is None:
        return "not cross-validated: nothing shows how good it is"
    parts = []
    limit_ppb = measured_limit(cv_metrics, limit_ppb)
    figures = screening_at(cv_metrics, limit_ppb)
    if figures is not None:
        alpha = false_compliant_rate(cv_metrics)
        risk = f" (false-compliant ≤ {percent(alpha)})" if alpha else ""
        parts.append(f"decides {figures['decided']:.0%} of samples at {limit_ppb:,.0f} ppb{risk}")
    parts.append(f"MAE {mae:,.0f} ppb")
    if r2 is not None:
        parts.append(f"CV R² {r2:.2f}")
    return ", ".join(parts)


def short_headline(cv_metrics: dict[str, Any], limit_ppb: float = DEFAULT_LIMIT_PPB) -> str:
    """For the sidebar: 'decides 43 % at 1,500 ppb (false-compliant ≤ 5%) · MAE 2,611 ppb'."""
    limit_ppb = measured_limit(cv_metrics, limit_ppb)
    figures, mae = screening_at(cv_metrics, limit_ppb), _mean(cv_metrics, "mae_ppb")
    alpha = false_compliant_rate(cv_metrics)
    risk = f" (false-compliant ≤ {percent(alpha)})" if alpha else ""
    parts = [f"decides {figures['decided']:.0%} at {limit_ppb:,.0f} ppb{risk}"] if figures else []
    if mae is not None:
        parts.append(f"MAE {mae:,.0f} ppb")
    return " · ".join(parts)

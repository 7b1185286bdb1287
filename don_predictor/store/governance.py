"""Champion and challenger: a new version is activated only when it is not clearly worse than the active one.

The comparison uses the cross-validation figures each version saved when it was trained. Two versions trained on
the same file (same checksum) with the same folds and repeats were measured on the same CV folds: the splitter is
seeded. Otherwise the page says the figures come from different data. A refused challenger can still be activated
with an override and a typed reason, which the audit trail keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from don_predictor.modeling.evaluation import METRIC_LABELS
from don_predictor.store.audit import audit
from don_predictor.store.registry import ModelVersion, Registry, RegistryError

# A single CV repeat has no spread; differences smaller than this are within the noise seen between repeats of
# 5-fold CV on the dev data (RF R² SD 0.05, docs/model_card.md).
MIN_R2_TOLERANCE = 0.05
COMPARED_METRICS = ("r2", "mae_ppb", "median_ae_ppb", "roc_auc", "r2_log")


class GovernanceError(RegistryError):
    """An activation was refused: the challenger is clearly worse and no override reason was given."""


@dataclass
class ActivationReview:
    challenger: ModelVersion
    champion: ModelVersion | None
    same_folds: bool
    rows: list[dict[str, str]] = field(default_factory=list)  # metric, challenger, champion
    problems: list[str] = field(default_factory=list)  # why the challenger is refused

    @property
    def allowed(self) -> bool:
        return not self.problems


def _metric(version: ModelVersion | None, key: str) -> tuple[float, float] | None:
    values = (version.cv_metrics.get("metrics") or {}).get(key) if version else None
    return (float(values["mean"]), float(values.get("sd", 0.0))) if values else None


def _coverage(version: ModelVersion | None) -> float | None:
    intervals = (version.manifest.get("intervals") or {}) if version else {}
    return intervals.get("coverage")


def _cell(value: tuple[float, float] | None, spread: bool, decimals: int = 3) -> str:
    if value is None:
        return "—"
    mean, sd = value
    return f"{mean:,.{decimals}f}" + (f" ± {sd:,.{decimals}f}" if spread and sd else "")


def review_activation(registry: Registry, backend: str, version: str) -> ActivationReview:
    """The challenger's CV figures beside the active champion's, and the reasons (if any) to refuse it."""
    challenger = registry.get(backend, version)
    champion = registry.active(backend)
    if champion is not None and champion.version == challenger.version:
        champion = None
    # The CV splitter is seeded: the same file with the same folds and repeats means the same folds.
    same_folds = (
        champion is not None
        and challenger.manifest.get("data_sha256") == champion.manifest.get("data_sha256")
        and all(challenger.cv_metrics.get(k) == champion.cv_metrics.get(k) for k in ("folds", "repeats"))
    )
    review = ActivationReview(challenger, champion, same_folds)
    for key in COMPARED_METRICS:
        new, old = _metric(challenger, key), _metric(champion, key)
        decimals = 0 if key.endswith("_ppb") else 3  # ppb to the unit, as the method supports
        review.rows.append(
            {
                "metric": METRIC_LABELS[key],
                "challenger": _cell(new, challenger.cv_metrics.get("repeats", 1) > 1, decimals),
                "champion": _cell(old, bool(champion) and champion.cv_metrics.get("repeats", 1) > 1, decimals),
            }
        )
    new_cov, old_cov = _coverage(challenger), _coverage(champion)
    review.rows.append(
        {
            "metric": "90 % interval coverage (CV)",
            "challenger": "—" if new_cov is None else f"{new_cov:.3f}",
            "champion": "—" if old_cov is None else f"{old_cov:.3f}",
        }
    )

    new_r2, old_r2 = _metric(challenger, "r2"), _metric(champion, "r2")
    if new_r2 is None:
        review.problems.append("it was trained without cross-validation, so nothing shows how good it is")
    elif new_r2[0] < 0:
        review.problems.append(f"its CV R² is negative ({new_r2[0]:.3f}): it predicts worse than the mean")
    elif old_r2 is not None:
        tolerance = max(old_r2[1], MIN_R2_TOLERANCE)
        if new_r2[0] < old_r2[0] - tolerance:
            review.problems.append(
                f"its CV R² {new_r2[0]:.3f} is below the active version's {old_r2[0]:.3f} by more than {tolerance:.3f}"
            )
    return review


def activate(registry: Registry, backend: str, version: str, *, user: str | None, override_reason: str = "") -> None:
    """Activate a challenger after review; a refused one needs an override reason, which is audited."""
    review = review_activation(registry, backend, version)
    reason = override_reason.strip()
    if not review.allowed and not reason:
        raise GovernanceError(f"{backend.upper()} {version} is not activated: " + "; ".join(review.problems))
    previous = review.champion.version if review.champion else registry.active_version(backend)
    registry.activate(backend, version)
    if review.allowed:
        audit("activate", user=user, backend=backend, version=version, previous=previous)
    else:
        audit(
            "activation_override",
            user=user,
            backend=backend,
            version=version,
            previous=previous,
            problems="; ".join(review.problems),
            reason=reason,
        )


def rollback(registry: Registry, backend: str, *, user: str | None) -> str:
    """Re-activate the previous version (it was a champion before, so no review); audited."""
    current = registry.active_version(backend)
    restored = registry.rollback(backend)
    audit("rollback", user=user, backend=backend, version=restored, previous=current)
    return restored

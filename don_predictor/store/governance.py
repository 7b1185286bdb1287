"""Champion and challenger: a new version is activated only when it is not clearly worse than the active one.

The comparison uses the cross-validation figures each version saved when it was trained. Two versions trained on
the same file (same checksum) with the same folds and repeats were measured on the same CV folds: the splitter is
seeded. On the same file, the challenger is refused when its R² or its MAE is clearly worse (R² alone let through a
version with twice the MAE). Figures from different files cannot be compared (a file with more contaminated samples
gives a higher R² and a higher MAE to the same model): such a challenger needs a typed reason, e.g. a new
calibration for this instrument. A refused challenger can still be activated with an override and a typed reason,
which the audit trail keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from don_predictor.modeling.evaluation import METRIC_LABELS
from don_predictor.services.permissions import Actor, require
from don_predictor.store.registry import ModelVersion, Registry, RegistryError

# A single CV repeat has no spread; differences smaller than this are within the noise seen between repeats of
# 5-fold CV on the dev data (RF R² SD 0.05, docs/model_card.md).
MIN_R2_TOLERANCE = 0.05
MIN_MAE_TOLERANCE = 0.05  # MAE: the champion's spread, at least 5 % of its MAE
# The synthetic calibration set that `make models`, `make run` and the container train the first models on: a model
# trained on a lab's own file replaces such a champion without a reason (its figures say nothing about real samples).
DEMO_DATA_NAME = "demo_calibration.csv"
COMPARED_METRICS = ("r2", "mae_ppb", "median_ae_ppb", "roc_auc", "r2_log")


class GovernanceError(RegistryError):
    """An activation was refused: the challenger is clearly worse and no override reason was given."""


@dataclass
class ActivationReview:
    challenger: ModelVersion
    champion: ModelVersion | None
    same_folds: bool
    same_data: bool = False
    rows: list[dict[str, str]] = field(default_factory=list)  # metric, challenger, champion
    problems: list[str] = field(default_factory=list)  # why the challenger is refused

    @property
    def allowed(self) -> bool:
        return not self.problems

    @property
    def comparison(self) -> str:
        """One sentence on whether the two columns of figures can be compared."""
        if self.champion is None:
            return ""
        if self.same_folds:
            return "Both were measured on the same CV folds (same file, folds and repeats)."
        if self.same_data:
            return (
                "Both were trained on the same file, with other folds or repeats: the figures differ by CV noise too."
            )
        if is_demo(self.champion):
            return (
                "The active version is the demo model, trained on the synthetic demo data: its figures say nothing "
                "about real samples, so this version is not compared with it."
            )
        return (
            f"Not comparable: the challenger was trained on {_data_label(self.challenger)}, the active version on "
            f"{_data_label(self.champion)}. Figures from different files say nothing about which model is better."
        )


def is_demo(version: ModelVersion) -> bool:
    """Trained on the bundled synthetic demo calibration set."""
    return version.manifest.get("data_name") == DEMO_DATA_NAME


def _data_label(version: ModelVersion) -> str:
    name = version.manifest.get("data_name") or "another file"
    rows = version.manifest.get("n_rows")
    return f"{name} ({rows:,} rows)" if isinstance(rows, int) else name


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
    same_data = champion is not None and challenger.manifest.get("data_sha256") == champion.manifest.get("data_sha256")
    review = ActivationReview(challenger, champion, same_folds, same_data)
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

    review.problems = _problems(review)
    return review


def _problems(review: ActivationReview) -> list[str]:
    """Why the challenger should not replace the champion (empty: it may)."""
    challenger, champion = review.challenger, review.champion
    new_r2, old_r2 = _metric(challenger, "r2"), _metric(champion, "r2")
    if new_r2 is None:
        return ["it was trained without cross-validation, so nothing shows how good it is"]
    if new_r2[0] < 0:
        return [f"its CV R² is negative ({new_r2[0]:.3f}): it predicts worse than the mean"]
    if champion is None:
        return []
    if not review.same_data and is_demo(champion):
        return []  # the first model on the lab's own data replaces the demo model
    if not review.same_data:
        return [
            f"it was trained on other data than the active version ({_data_label(challenger)} against "
            f"{_data_label(champion)}), so the figures cannot show it is as good: say why it should replace it "
            "(e.g. a new calibration for this instrument)"
        ]
    problems = []
    if old_r2 is not None:
        tolerance = max(old_r2[1], MIN_R2_TOLERANCE)
        if new_r2[0] < old_r2[0] - tolerance:
            problems.append(
                f"its CV R² {new_r2[0]:.3f} is below the active version's {old_r2[0]:.3f} by more than {tolerance:.3f}"
            )
    new_mae, old_mae = _metric(challenger, "mae_ppb"), _metric(champion, "mae_ppb")
    if new_mae is not None and old_mae is not None:
        tolerance = max(old_mae[1], MIN_MAE_TOLERANCE * old_mae[0])
        if new_mae[0] > old_mae[0] + tolerance:
            problems.append(
                f"its CV MAE {new_mae[0]:,.0f} ppb is above the active version's {old_mae[0]:,.0f} ppb by more than "
                f"{tolerance:,.0f} ppb"
            )
    return problems


def activate(registry: Registry, backend: str, version: str, *, by: Actor | None, override_reason: str = "") -> None:
    """Activate a challenger after review; a refused one needs an override reason. The registry checks the role and
    audits the activation (with the review's problems and the reason, for an override)."""
    require(by, "activate")  # before the review: a viewer learns nothing about the versions from a refusal
    review = review_activation(registry, backend, version)
    reason = override_reason.strip()
    if not review.allowed and not reason:
        raise GovernanceError(f"{backend.upper()} {version} is not activated: " + "; ".join(review.problems))
    problems = "" if review.allowed else "; ".join(review.problems)
    registry.activate(backend, version, by=by, why=reason or "the review allows it", problems=problems)


def rollback(registry: Registry, backend: str, *, by: Actor | None, why: str = "") -> str:
    """Re-activate the previous version (it was a champion before, so no review); checked and audited there."""
    return registry.rollback(backend, by=by, why=why or "rolled back")

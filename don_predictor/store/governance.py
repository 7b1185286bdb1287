"""Champion and challenger: a new version is activated only when it can screen and is not clearly worse than the
active one at what a lab buys it for.

A version is judged by what it decides out of fold at the default limit (EU unprocessed maize, 1,500 ppb, unless
DON_DEFAULT_LIMIT says otherwise), at the false-compliant rate it is calibrated for: the decided share, and ROC AUC at
that limit (modeling/screening_power.py), with MAE in ppb. R² in ppb stays in the review, never the veto: on this
data a handful of samples above 50,000 ppb decide it, and the TF default, the better screener, had a CV R² of -0.01.

- A version that cannot screen is refused: it decides no sample at the limit, or ranks samples there no better than
  chance (AUC at most CHANCE_AUC).
- On the same file with the same folds (the splitter is seeded, so same checksum, folds and repeats means the same
  folds), a challenger is refused when its decided share is clearly lower or its MAE clearly higher.
- Figures from different files cannot be compared (a file with more contaminated samples decides differently with
  the same model): such a challenger needs a typed reason, e.g. a new calibration for this instrument; except over
  a demo champion, trained on the synthetic demo data, which any version on a lab's own file replaces.
A refused challenger can still be activated with an override and a typed reason, which the audit trail keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from don_predictor.modeling.evaluation import METRIC_LABELS
from don_predictor.modeling.quality import DEFAULT_LIMIT_PPB, false_compliant_rate, screening_at, screening_sd
from don_predictor.services.permissions import Actor, require
from don_predictor.store.registry import ModelVersion, Registry, RegistryError

# A single CV repeat has no spread; differences smaller than these are within the noise between repeats of 5-fold CV
# on the dev data (RF decided 61.0 % and 52.6 % at 5 ppm in two repeats, docs/validation_report.md).
MIN_DECIDED_TOLERANCE = 0.05  # decided share: the champion's spread, at least 5 percentage points
MIN_MAE_TOLERANCE = 0.05  # MAE: the champion's spread, at least 5 % of its MAE
# ROC AUC at the limit at or under which a model ranks samples no better than chance (a random score's AUC on ~100
# contaminated samples of 400 has an SD of about 0.03).
CHANCE_AUC = 0.55
# The synthetic calibration set that `make models`, `make run` and the container train the first models on: a model
# trained on a lab's own file replaces such a champion without a reason (its figures say nothing about real samples).
DEMO_DATA_NAME = "demo_calibration.csv"
COMPARED_METRICS = ("mae_ppb", "median_ae_ppb", "r2", "r2_log")  # after the screening figures, in this order
SCREENING_ROWS = {  # figure: label, at the judged limit
    "decided": "decided share",
    "false_compliant": "false-compliant rate",
    "auc": "ROC AUC",
}


class GovernanceError(RegistryError):
    """An activation was refused: the challenger is clearly worse and no override reason was given."""


@dataclass
class ActivationReview:
    challenger: ModelVersion
    champion: ModelVersion | None
    same_folds: bool
    same_data: bool = False
    limit_ppb: float = DEFAULT_LIMIT_PPB  # the limit the screening figures are judged at
    rows: list[dict[str, str]] = field(default_factory=list)  # metric, challenger, champion
    problems: list[str] = field(default_factory=list)  # why the challenger is refused

    @property
    def allowed(self) -> bool:
        return not self.problems

    @property
    def needs_no_review(self) -> bool:
        """Allowed, and nothing real to compare it with: no active version, or a demo one. The app activates such a
        version when its training ends, as `train` does (a lab's first real model replaces the demo model)."""
        return self.allowed and (self.champion is None or is_demo(self.champion))

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


# Said wherever a demo model is named (sidebar, pages, verdicts, Status, report, `info`).
DEMO_MODEL_NOTE = "demo model: trained on synthetic spectra; train on your calibration file (Train)"


def out_of_domain_advice(demo: bool) -> str:
    """What many spectra outside the calibration domain most likely mean: with a demo model, that real spectra are
    unlike its synthetic ones (not a fault of the instrument)."""
    if demo:
        return (
            "The model is a demo model trained on synthetic spectra, so real spectra lie outside its domain: train "
            "on your calibration file (Train)."
        )
    return (
        "On many rows this usually means the instrument's white or dark reference needs redoing, or the samples are "
        "unlike the model's calibration data."
    )


def is_demo(version: ModelVersion | None) -> bool:
    """Trained on the bundled synthetic demo calibration set."""
    return version is not None and version.manifest.get("data_name") == DEMO_DATA_NAME


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


def review_activation(
    registry: Registry, backend: str, version: str, limit_ppb: float = DEFAULT_LIMIT_PPB
) -> ActivationReview:
    """The challenger's CV figures beside the active champion's, and the reasons (if any) to refuse it."""
    challenger = registry.get(backend, version)
    champion = registry.active(backend)
    if champion is not None and champion.version == challenger.version:
        champion = None
    same_data = champion is not None and challenger.manifest.get("data_sha256") == champion.manifest.get("data_sha256")
    # The CV splitter is seeded: the same file with the same folds and repeats means the same folds.
    same_folds = same_data and all(
        challenger.cv_metrics.get(k) == champion.cv_metrics.get(k) for k in ("folds", "repeats")
    )
    review = ActivationReview(challenger, champion, same_folds, same_data, limit_ppb=limit_ppb)
    spread = {id(v): v is not None and v.cv_metrics.get("repeats", 1) > 1 for v in (challenger, champion)}
    new_spread, old_spread = spread[id(challenger)], spread[id(champion)]
    for limit in _screening_limits(challenger, limit_ppb):
        for figure, label in SCREENING_ROWS.items():
            if limit != limit_ppb and figure != "decided":
                continue  # the other limits: the decided share only
            review.rows.append(
                {
                    "metric": f"{label} at {limit:,.0f} ppb (CV)",
                    "challenger": _screening_cell(challenger, figure, limit, new_spread),
                    "champion": _screening_cell(champion, figure, limit, old_spread),
                }
            )
    for key in COMPARED_METRICS:
        new, old = _metric(challenger, key), _metric(champion, key)
        decimals = 0 if key.endswith("_ppb") else 3  # ppb to the unit, as the method supports
        review.rows.append(
            {
                "metric": METRIC_LABELS[key],
                "challenger": _cell(new, new_spread, decimals),
                "champion": _cell(old, old_spread, decimals),
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


def _screening_limits(version: ModelVersion, limit_ppb: float) -> list[float]:
    """The judged limit first, then the other limits the version was measured at."""
    stored = ((version.cv_metrics.get("screening") or {}).get("limits") or {}).keys()
    return [limit_ppb, *sorted(float(k) for k in stored if float(k) != limit_ppb)]


def _screening_cell(version: ModelVersion | None, figure: str, limit_ppb: float, spread: bool) -> str:
    figures = screening_at(version.cv_metrics, limit_ppb) if version else None
    value = (figures or {}).get(figure, float("nan"))
    if value != value:  # missing or NaN
        return "—"
    sd = screening_sd(version.cv_metrics, figure, limit_ppb) if spread else 0.0
    if figure == "auc":
        return _cell((value, sd), spread)
    return f"{value:.1%}" + (f" ± {sd:.1%}" if sd else "")


def cannot_screen(version: ModelVersion, limit_ppb: float = DEFAULT_LIMIT_PPB) -> str | None:
    """Why the version cannot screen at the limit (None: it can). Versions saved before the screening figures were
    kept are judged by their ROC AUC at 1 ppm."""
    figures = screening_at(version.cv_metrics, limit_ppb)
    if figures is not None:
        if figures["decided"] <= 0:
            alpha = false_compliant_rate(version.cv_metrics) or 0.05
            return (
                f"it decides no sample at {limit_ppb:,.0f} ppb at a {alpha:.0%} false-compliant rate "
                "(cross-validated): every sample would go to the lab"
            )
        auc = figures.get("auc", float("nan"))
    else:
        auc = (_metric(version, "roc_auc") or (float("nan"), 0.0))[0]
    if auc == auc and auc <= CHANCE_AUC:  # NaN (one class only) says nothing
        return f"it ranks samples at the limit no better than chance (cross-validated ROC AUC {auc:.2f})"
    return None


def _problems(review: ActivationReview) -> list[str]:
    """Why the challenger should not replace the champion (empty: it may)."""
    challenger, champion, limit = review.challenger, review.champion, review.limit_ppb
    if _metric(challenger, "mae_ppb") is None:
        return ["it was trained without cross-validation, so nothing shows how good it is"]
    unable = cannot_screen(challenger, limit)
    if unable:
        return [unable]
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
    new_figures, old_figures = (screening_at(v.cv_metrics, limit) for v in (challenger, champion))
    if new_figures is not None and old_figures is not None:
        tolerance = max(screening_sd(champion.cv_metrics, "decided", limit), MIN_DECIDED_TOLERANCE)
        if new_figures["decided"] < old_figures["decided"] - tolerance:
            problems.append(
                f"it decides {new_figures['decided']:.1%} of samples at {limit:,.0f} ppb, under the active "
                f"version's {old_figures['decided']:.1%} by more than {tolerance:.1%}"
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


def activate(
    registry: Registry,
    backend: str,
    version: str,
    *,
    by: Actor | None,
    override_reason: str = "",
    limit_ppb: float = DEFAULT_LIMIT_PPB,
) -> None:
    """Activate a challenger after review; a refused one needs an override reason. The registry checks the role and
    audits the activation (with the review's problems and the reason, for an override)."""
    require(by, "activate")  # before the review: a viewer learns nothing about the versions from a refusal
    review = review_activation(registry, backend, version, limit_ppb)
    reason = override_reason.strip()
    if not review.allowed and not reason:
        raise GovernanceError(f"{backend.upper()} {version} is not activated: " + "; ".join(review.problems))
    problems = "" if review.allowed else "; ".join(review.problems)
    registry._activate(backend, version, by=by, why=reason or "the review allows it", problems=problems)


def activate_unreviewed(
    registry: Registry, backend: str, version: str, *, by: Actor | None = None, why: str = "activated unreviewed"
) -> None:
    """Activate without a review, because the caller asked for it (a save or an import with activate=True: the
    demo models, tests, a restore). Checked against `by`'s role and audited with `why`, like any activation."""
    registry._activate(backend, version, by=by, why=why)


def register(
    registry: Registry,
    model: Any,  # a fitted ScreenedRegressor, or a bare fitted Backend (saved without trust)
    training: dict[str, Any],
    *,
    activate: bool = False,
    by: Actor | None = None,
    why: str = "",
) -> ModelVersion:
    """Save a fitted model as a new version, and activate it unreviewed when asked (a challenger is saved with
    activate=False and activated by `activate` after its review). Refused before anything is written when `by`
    may not train, or may not activate and activation was asked for."""
    require(by, "train")
    if activate:
        require(by, "activate")
    saved = registry.save(model, training, by=by, why=why)
    if activate:
        activate_unreviewed(registry, saved.backend, saved.version, by=by, why=why or "activated when saved")
    return saved


def rollback(registry: Registry, backend: str, *, by: Actor | None, why: str = "") -> str:
    """Re-activate the previous version (it was a champion before, so no review); checked and audited there."""
    return registry._rollback(backend, by=by, why=why or "rolled back")

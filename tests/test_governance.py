"""Champion and challenger: the review before an activation, the override with a reason, and the audit trail."""

from __future__ import annotations

import json

import pytest

from don_predictor.services.permissions import Actor
from don_predictor.store import governance
from don_predictor.store.audit import list_audit

ANN, ADA, BOB = Actor("ann", "admin"), Actor("ada", "admin"), Actor("bob", "admin")


def cv(
    r2: float, sd: float = 0.0, repeats: int = 1, mae: float = 1000.0, decided: float | None = 0.4, auc: float = 0.8
) -> dict:
    metrics = {key: {"mean": 0.5, "sd": 0.0} for key in ("median_ae_ppb", "r2_log")}
    metrics["mae_ppb"], metrics["roc_auc"] = {"mean": mae, "sd": 0.0}, {"mean": auc, "sd": 0.0}
    out = {"folds": 5, "repeats": repeats, "metrics": {**metrics, "r2": {"mean": r2, "sd": sd}}}
    if decided is not None:
        figures = {"decided": decided, "cleared": decided / 2, "false_compliant": 0.03, "false_suspect": 0.03}
        figures["auc"] = auc
        at_limit = {name: {"mean": value, "sd": sd} for name, value in figures.items()}
        out["screening"] = {"false_compliant_rate": 0.05, "false_suspect_rate": 0.05, "limits": {"1500": at_limit}}
    return out


def version(
    registry,
    model,
    r2: float | None,
    sd: float = 0.0,
    data: str = "same",
    activate: bool = False,
    mae: float = 1000.0,
    decided: float | None = 0.4,
    auc: float = 0.8,
):
    training = {
        "data_sha256": data,
        "data_name": f"{data}.csv",
        "n_rows": 400 if data == "same" else 600,
        "cv_metrics": None if r2 is None else cv(r2, sd, 5 if sd else 1, mae, decided, auc),
    }
    return governance.register(registry, model, training, activate=activate).version


def actions(tmp_path) -> list[dict]:
    trail = list_audit(tmp_path / "history.sqlite")
    return [{"action": a, **json.loads(d)} for a, d in zip(trail["action"], trail["detail"], strict=True)]


def test_a_better_or_equal_challenger_is_allowed_and_compared_on_the_same_folds(registry, small_model):
    champion = version(registry, small_model, 0.40, sd=0.05, activate=True, decided=0.45)
    challenger = version(registry, small_model, 0.38, sd=0.04, decided=0.43)
    review = governance.review_activation(registry, "rf", challenger)
    assert review.allowed and review.champion.version == champion and review.same_folds
    # The screening figures lead the review; R² in ppb comes after them.
    assert review.rows[0] == {
        "metric": "decided share at 1,500 ppb (CV)",
        "challenger": "43.0% ± 4.0%",
        "champion": "45.0% ± 5.0%",
    }
    labels = [row["metric"] for row in review.rows]
    assert labels.index("R² (ppb)") > labels.index("MAE (ppb)") > labels.index("ROC AUC at 1,500 ppb (CV)")


@pytest.mark.parametrize(
    "decided,auc,reason",
    [
        (0.0, 0.8, "it decides no sample at 1,500 ppb at a 5% false-compliant rate"),
        (0.3, 0.52, "no better than chance (cross-validated ROC AUC 0.52)"),
        (0.30, 0.8, "it decides 30.0% of samples at 1,500 ppb, under the active version's 40.0% by more than 5.0%"),
        (None, None, "trained without cross-validation"),
    ],
)
def test_a_challenger_that_cannot_screen_or_decides_clearly_less_is_refused_unless_overridden(
    registry, small_model, tmp_path, decided, auc, reason
):
    champion = version(registry, small_model, 0.40, activate=True, decided=0.40)
    challenger = version(registry, small_model, None if auc is None else 0.40, decided=decided, auc=auc or 0.8)
    review = governance.review_activation(registry, "rf", challenger)
    assert not review.allowed and reason in review.problems[0]
    with pytest.raises(governance.GovernanceError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        governance.activate(registry, "rf", challenger, by=ANN, override_reason="   ")
    assert registry.active_version("rf") == champion
    governance.activate(registry, "rf", challenger, by=ANN, override_reason="reference lab agrees")
    assert registry.active_version("rf") == challenger
    override = actions(tmp_path)[0]
    assert override["action"] == "activation_override" and override["reason"] == "reference lab agrees"
    assert override["previous"] == champion and reason in override["problems"]


def test_a_good_screener_with_a_negative_r2_is_activated_first_and_over_a_better_r2(registry, small_model):
    """The TF default on the dev data: CV R² -0.007 (a handful of samples over 50,000 ppb decide it), yet the better
    screener. The gate judges what the product is for: R² in ppb is reported, never the veto."""
    first = version(registry, small_model, -0.007, decided=0.45, auc=0.85)
    review = governance.review_activation(registry, "rf", first)
    assert review.allowed and review.needs_no_review
    governance.activate(registry, "rf", first, by=ANN)
    better_r2_fewer_decided = version(registry, small_model, 0.47, decided=0.33)
    assert "decides 33.0%" in governance.review_activation(registry, "rf", better_r2_fewer_decided).problems[0]
    same_decisions_negative_r2 = version(registry, small_model, -0.2, decided=0.44)
    assert governance.review_activation(registry, "rf", same_decisions_negative_r2).allowed


def test_a_version_saved_before_the_screening_figures_is_judged_by_its_auc(registry, small_model):
    assert governance.review_activation(registry, "rf", version(registry, small_model, -0.1, decided=None)).allowed
    old = registry.get("rf", version(registry, small_model, 0.4, decided=None))
    old.manifest["cv_metrics"]["metrics"]["roc_auc"]["mean"] = 0.5
    assert "no better than chance" in governance.cannot_screen(old)


def test_the_tolerance_is_the_champions_spread_or_a_floor_for_one_repeat(registry, small_model):
    version(registry, small_model, 0.40, activate=True, decided=0.40)  # one repeat: no spread, the floor applies
    assert governance.review_activation(registry, "rf", version(registry, small_model, 0.1, decided=0.36)).allowed
    assert not governance.review_activation(registry, "rf", version(registry, small_model, 0.5, decided=0.34)).allowed


def test_figures_from_other_data_are_not_compared_and_the_switch_needs_a_reason(registry, small_model):
    """A better R² on another file says nothing (a new user's challenger had R² 0.47 against 0.32 and twice the
    MAE): the review says the figures are not comparable and asks why the model should be replaced."""
    version(registry, small_model, 0.32, activate=True)
    review = governance.review_activation(registry, "rf", version(registry, small_model, 0.47, data="other", mae=2644))
    assert not review.same_folds and not review.same_data and not review.allowed
    assert "Not comparable" in review.comparison and "other.csv (600 rows)" in review.comparison
    assert "same.csv (400 rows)" in review.comparison
    (problem,) = review.problems
    assert "trained on other data" in problem and "say why it should replace it" in problem


def test_the_first_model_on_a_labs_own_data_replaces_the_demo_model_without_a_reason(registry, small_model):
    """make run, make models and the container start with models trained on the synthetic demo file: a model on
    real data is not compared with them (the review said 'not comparable' and asked for a reason)."""
    demo = governance.register(
        registry,
        small_model,
        {"data_sha256": "demo", "data_name": "demo_calibration.csv", "cv_metrics": cv(0.9)},
        activate=True,
    )
    review = governance.review_activation(registry, "rf", version(registry, small_model, 0.30, data="lab", mae=2600))
    assert review.champion.version == demo.version and not review.same_data
    assert review.allowed and "demo model" in review.comparison


def test_on_the_same_file_a_clearly_higher_mae_is_refused_even_with_a_better_r2(registry, small_model):
    version(registry, small_model, 0.40, activate=True, mae=1000)
    assert governance.review_activation(registry, "rf", version(registry, small_model, 0.45, mae=1040)).allowed
    review = governance.review_activation(registry, "rf", version(registry, small_model, 0.45, mae=1200))
    assert review.same_data and review.same_folds and "Both were measured on the same CV folds" in review.comparison
    (problem,) = review.problems
    assert "MAE 1,200 ppb is above the active version's 1,000 ppb by more than 50 ppb" in problem


def test_activation_and_rollback_are_audited_with_user_and_versions(registry, small_model, tmp_path):
    first = version(registry, small_model, 0.40)
    second = version(registry, small_model, 0.41)
    governance.activate(registry, "rf", first, by=ADA)
    governance.activate(registry, "rf", second, by=ADA)
    assert governance.rollback(registry, "rf", by=BOB) == first
    trail = actions(tmp_path)
    assert [t["action"] for t in trail] == ["rollback", "activate", "activate", "save", "save"]
    assert trail[0] == {
        "action": "rollback",
        "role": "admin",
        "backend": "rf",
        "version": first,
        "previous": second,
        "reason": "rolled back",
    }
    assert list_audit(tmp_path / "history.sqlite")["user"].tolist()[:3] == ["bob", "ada", "ada"]

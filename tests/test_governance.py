"""Champion and challenger: the review before an activation, the override with a reason, and the audit trail."""

from __future__ import annotations

import json

import pytest

from don_predictor.modeling.backends import make_backend
from don_predictor.store import governance
from don_predictor.store.audit import list_audit
from don_predictor.store.registry import Registry


@pytest.fixture()
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    return Registry(tmp_path / "models")


@pytest.fixture(scope="module")
def small_model(demo_table):
    return make_backend("rf", n_estimators=5).fit(demo_table.X[:60], demo_table.target[:60], demo_table.band_names)


def cv(r2: float, sd: float = 0.0, repeats: int = 1) -> dict:
    metrics = {key: {"mean": 0.5, "sd": 0.0} for key in ("mae_ppb", "median_ae_ppb", "roc_auc", "r2_log")}
    return {"folds": 5, "repeats": repeats, "metrics": {**metrics, "r2": {"mean": r2, "sd": sd}}}


def version(registry, model, r2: float | None, sd: float = 0.0, data: str = "same", activate: bool = False):
    training = {"data_sha256": data, "cv_metrics": None if r2 is None else cv(r2, sd, repeats=5 if sd else 1)}
    return registry.save(model, training, activate=activate).version


def actions(tmp_path) -> list[dict]:
    trail = list_audit(tmp_path / "history.sqlite")
    return [{"action": a, **json.loads(d)} for a, d in zip(trail["action"], trail["detail"], strict=True)]


def test_a_better_or_equal_challenger_is_allowed_and_compared_on_the_same_folds(registry, small_model):
    champion = version(registry, small_model, 0.40, sd=0.05, activate=True)
    challenger = version(registry, small_model, 0.38, sd=0.04)
    review = governance.review_activation(registry, "rf", challenger)
    assert review.allowed and review.champion.version == champion and review.same_folds
    assert review.rows[0] == {"metric": "R² (ppb)", "challenger": "0.380 ± 0.040", "champion": "0.400 ± 0.050"}


@pytest.mark.parametrize(
    "r2,reason",
    [
        (-0.01, "CV R² is negative"),
        (0.30, "below the active version's 0.400 by more than 0.050"),
        (None, "trained without cross-validation"),
    ],
)
def test_a_clearly_worse_challenger_is_refused_unless_overridden(registry, small_model, tmp_path, r2, reason):
    champion = version(registry, small_model, 0.40, sd=0.05, activate=True)
    challenger = version(registry, small_model, r2)
    review = governance.review_activation(registry, "rf", challenger)
    assert not review.allowed and reason in review.problems[0]
    with pytest.raises(governance.GovernanceError, match=reason):
        governance.activate(registry, "rf", challenger, user="ann", override_reason="   ")
    assert registry.active_version("rf") == champion
    governance.activate(registry, "rf", challenger, user="ann", override_reason="reference lab agrees")
    assert registry.active_version("rf") == challenger
    override = actions(tmp_path)[0]
    assert override["action"] == "activation_override" and override["reason"] == "reference lab agrees"
    assert override["previous"] == champion and reason in override["problems"]


def test_the_tolerance_is_the_champions_spread_or_a_floor_for_one_repeat(registry, small_model):
    version(registry, small_model, 0.40, activate=True)  # one repeat: no spread, the floor applies
    assert governance.review_activation(registry, "rf", version(registry, small_model, 0.36)).allowed
    assert not governance.review_activation(registry, "rf", version(registry, small_model, 0.34)).allowed


def test_figures_from_other_data_are_marked_as_not_on_the_same_folds(registry, small_model):
    version(registry, small_model, 0.40, activate=True)
    review = governance.review_activation(registry, "rf", version(registry, small_model, 0.45, data="other"))
    assert review.allowed and not review.same_folds


def test_activation_and_rollback_are_audited_with_user_and_versions(registry, small_model, tmp_path):
    first = version(registry, small_model, 0.40)
    second = version(registry, small_model, 0.41)
    governance.activate(registry, "rf", first, user="ada")
    governance.activate(registry, "rf", second, user="ada")
    assert governance.rollback(registry, "rf", user="bob") == first
    trail = actions(tmp_path)
    assert [t["action"] for t in trail] == ["rollback", "activate", "activate"]
    assert trail[0] == {"action": "rollback", "backend": "rf", "version": first, "previous": second}
    assert list_audit(tmp_path / "history.sqlite")["user"].tolist() == ["bob", "ada", "ada"]

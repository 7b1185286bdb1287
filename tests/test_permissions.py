"""Roles and actions: the one permission table, checked by the registry layer itself (whoever calls), and every change
of the registry, refused import and admin download leaving one audit row; audit events kept in the log when the
database cannot take them."""

from __future__ import annotations

import json
import logging

import pytest
from test_governance import cv

from don_predictor.services.permissions import ALLOWED, DESCRIPTIONS, ROLES, Actor, PermissionDenied, allows
from don_predictor.store import governance
from don_predictor.store.backup import database_copy, export_version, import_version
from don_predictor.store.history import list_audit
from don_predictor.store.registry import Registry

VIEWER, ANALYST, ADMIN = Actor("vic", "viewer"), Actor("ann", "analyst"), Actor("ada", "admin")
EXPECTED = {  # the brief: viewer scores and sees their own results; analyst trains; admin governs
    "viewer": {"score", "own_results"},
    "analyst": {"score", "own_results", "all_results", "train", "export", "lab_results"},  # issue 24: record lab values
    "admin": set(DESCRIPTIONS),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(DESCRIPTIONS))
def test_each_role_may_do_exactly_its_actions(role, action):
    assert allows(role, action) == (action in EXPECTED[role])
    assert not allows("root", action) and not allows(None, action) and not allows("none", action)


def test_an_unknown_action_is_an_error_not_a_silent_refusal():
    with pytest.raises(KeyError):
        allows("admin", "activte")
    assert set().union(*ALLOWED.values()) == set(DESCRIPTIONS)


def trail(tmp_path) -> list[dict]:
    """The audit rows, oldest first, as {action, user, **detail}."""
    rows = list_audit(tmp_path / "history.sqlite")
    return [
        {"action": a, "user": u, **json.loads(d)}
        for a, u, d in zip(rows["action"], rows["user"], rows["detail"], strict=True)
    ][::-1]


def training(r2: float = 0.4, decided: float = 0.4) -> dict:
    return {"data_sha256": "same", "data_name": "lab.csv", "n_rows": 400, "cv_metrics": cv(r2, decided=decided)}


def test_the_registry_refuses_what_the_role_does_not_allow_and_changes_nothing(registry, small_model, tmp_path):
    first = registry.save(small_model, training(), by=ADMIN).version
    with pytest.raises(PermissionDenied, match=r"viewer\) cannot train models: it needs analyst"):
        registry.save(small_model, training(), by=VIEWER)
    with pytest.raises(PermissionDenied, match="it needs admin"):
        governance.register(registry, small_model, training(), activate=True, by=ANALYST)  # may train, may not activate
    for actor in (VIEWER, ANALYST):
        with pytest.raises(PermissionDenied):
            governance.activate(registry, "rf", first, by=actor)
        with pytest.raises(PermissionDenied):
            governance.rollback(registry, "rf", by=actor)
        with pytest.raises(PermissionDenied):
            database_copy(tmp_path / "history.sqlite", by=actor)
    with pytest.raises(PermissionDenied):
        export_version(registry, "rf", first, by=VIEWER)
    assert [v.version for v in registry.versions("rf")] == [first] and registry.active_version("rf") is None
    export_version(registry, "rf", first, by=ANALYST)  # analysts export


def test_every_change_of_the_registry_and_every_admin_download_leaves_one_audit_row(registry, small_model, tmp_path):
    """Training in the app saved a version with no audit row, and refused imports left none: the registry layer
    audits each change with user, time, what and why, whoever calls it."""
    first = registry.save(small_model, training(0.40), by=ANALYST).version
    governance.activate(registry, "rf", first, by=ADMIN)
    worse = registry.save(small_model, training(0.10, decided=0.2), by=ANALYST).version
    governance.activate(registry, "rf", worse, by=ADMIN, override_reason="the reference lab agrees")
    governance.rollback(registry, "rf", by=ADMIN)
    archive = export_version(registry, "rf", first, by=ADMIN)
    elsewhere = Registry(tmp_path / "elsewhere")
    import_version(elsewhere, archive, by=ADMIN, file_name="rf.zip")
    with pytest.raises(Exception, match="already in the registry"):
        import_version(elsewhere, archive, by=ADMIN, file_name="again.zip")
    with pytest.raises(PermissionDenied):
        import_version(elsewhere, archive, by=VIEWER, file_name="sneaky.zip")
    database_copy(tmp_path / "history.sqlite", by=ADMIN)

    rows = trail(tmp_path)
    assert [r["action"] for r in rows] == [
        "save",
        "activate",
        "save",
        "activation_override",
        "rollback",
        "export",
        "import",
        "import_refused",
        "import_refused",
        "database_copy",
    ]
    assert [r["user"] for r in rows] == ["ann", "ada", "ann", "ada", "ada", "ada", "ada", "ada", "vic", "ada"]
    assert rows[0]["version"] == first and rows[0]["reason"] == "trained on lab.csv" and rows[0]["role"] == "analyst"
    assert rows[3]["reason"] == "the reference lab agrees" and "it decides 20.0% of samples" in rows[3]["problems"]
    assert rows[4]["version"] == first and rows[4]["previous"] == worse
    assert rows[6]["file"] == "rf.zip" and rows[6]["version"] == first
    assert rows[7]["file"] == "again.zip" and "already in the registry" in rows[7]["reason"]
    assert rows[8]["user"] == "vic" and "cannot import" in rows[8]["reason"]
    assert rows[9]["user"] == "ada" and rows[9]["role"] == "admin"


def test_an_audit_event_the_database_cannot_take_goes_to_the_log_and_a_counter(tmp_path, monkeypatch, caplog):
    from prometheus_client import REGISTRY
    from sqlalchemy.exc import OperationalError

    import don_predictor.store.history.store as store
    from don_predictor.logs import LOGGER_NAME
    from don_predictor.store.audit import audit

    def broken(*_args, **_kwargs):
        raise OperationalError("INSERT INTO audit", {}, Exception("database or disk is full"))

    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    monkeypatch.setattr(store, "writing", broken)
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(caplog.handler)  # the project's logger does not propagate to the root
    counted = REGISTRY.get_sample_value("don_audit_events_unsaved_total", {"action": "rollback"}) or 0.0
    try:
        audit("rollback", user="ada", backend="rf", version="v1", reason="the new one misreads wet corn")
    finally:
        logger.removeHandler(caplog.handler)
    (line,) = {r.getMessage() for r in caplog.records if r.getMessage().startswith("audit_unsaved ")}
    kept = json.loads(line.removeprefix("audit_unsaved ").rsplit(" error=", 1)[0])
    assert kept["action"] == "rollback" and kept["user"] == "ada" and kept["time"]
    assert kept["detail"] == {"backend": "rf", "version": "v1", "reason": "the new one misreads wet corn"}
    assert line.endswith("error=HistoryError")
    assert REGISTRY.get_sample_value("don_audit_events_unsaved_total", {"action": "rollback"}) == counted + 1


def test_train_on_the_command_line_audits_the_save_not_only_an_activation(tmp_path, monkeypatch, demo_calibration):
    import getpass

    from cli_helpers import run_cli

    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    monkeypatch.delenv("DON_USERS_FILE", raising=False)
    models = tmp_path / "models"
    args = ("train", "--data", str(demo_calibration), "--backend", "rf", "--trees", "5", "--models-dir", str(models))
    result = run_cli(*args, "--cv-repeats", "0")  # no CV: saved, and the review refuses to activate it
    assert result.returncode == 2 and "not activated" in result.stderr
    (saved,) = trail(tmp_path)
    assert saved["action"] == "save" and saved["user"] == getpass.getuser() and saved["data"] == demo_calibration.name

"""Each role against each action on the pages (AppTest) and on the command line: what a page draws follows the one
permission table, and a download built later on its click is checked again there (a viewer got a copy of the history
database, audit trail included, from the Status page)."""

from __future__ import annotations

import pandas as pd
import pytest
from cli_helpers import run_cli
from test_login import log_in_as, users_file

from don_predictor.services.auth import read_users, write_user
from don_predictor.services.permissions import PermissionDenied, allows
from don_predictor.store.history import RunInfo, list_audit, record_run

USERS = {"vic": "viewer", "ann": "analyst", "ada": "admin"}
DB_COPY = "Download a copy of the history database"


def seed_runs(db) -> None:
    """One scoring run by vic and one by ann."""
    for user in ("vic", "ann"):
        frame = pd.DataFrame({"hsi_id": ["a"], "status": ["ok"], "rf_ppb": [100.0]})
        record_run(db, frame, "hsi_id", RunInfo("rf", {"rf": "v1"}, f"{user}_scan.csv", "x", user=user))


@pytest.fixture()
def signed_in(guarded_app, tmp_path, monkeypatch):
    monkeypatch.setenv("DON_USERS_FILE", users_file(tmp_path))
    seed_runs(tmp_path / "history.sqlite")

    def sign_in(name: str):
        guarded_app.run()
        log_in_as(guarded_app, name)
        assert any(h.value == "Active models" for h in guarded_app.subheader), [e.value for e in guarded_app.error]
        return guarded_app

    return sign_in


def page(at, path: str):
    at.switch_page(path)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.mark.parametrize("name", list(USERS))
def test_each_role_sees_and_does_what_the_permission_table_allows(signed_in, downloads, tmp_path, name):
    role = USERS[name]
    at = signed_in(name)

    page(at, "pages/train.py")
    assert any(b.label == "Train" for b in at.button) == allows(role, "train")
    assert any(b.key and b.key.startswith("rollback_") for b in at.button) == allows(role, "rollback")

    downloads.clear()
    page(at, "pages/status.py")
    assert any(u.key == "import_zip" for u in at.get("file_uploader")) == allows(role, "import")
    assert ("Download the zip" in downloads) == allows(role, "export")
    assert (DB_COPY in downloads) == allows(role, "database_copy")
    assert any("Models directory" in c.value for c in at.caption) == allows(role, "server_paths")
    assert any(c.value == "The audit trail is shown to admins." for c in at.caption) != allows(role, "audit")

    page(at, "pages/history.py")
    listed = set(at.dataframe[0].value["user"])
    assert listed == ({"vic", "ann"} if allows(role, "all_results") else {name} & {"vic", "ann"})


def test_the_database_copy_is_checked_again_and_audited_on_the_click(signed_in, downloads, tmp_path, monkeypatch):
    at = signed_in("ada")
    page(at, "pages/status.py")
    build, _ = downloads[DB_COPY]
    assert build()[:16] == b"SQLite format 3\x00"
    copies = list_audit(tmp_path / "history.sqlite").query("action == 'database_copy'")
    assert copies["user"].tolist() == ["ada"]

    # ada is made a viewer after the page was drawn: the click is refused on the server, and nothing is built.
    path = tmp_path / "users.toml"
    write_user(path, "ada", read_users(path)["ada"].password_hash, "viewer")
    with pytest.raises(PermissionDenied, match="cannot download the history database"):
        build()
    trail = list_audit(tmp_path / "history.sqlite")
    assert len(trail.query("action == 'database_copy'")) == 1
    assert trail["action"].iloc[0] == "download_refused" and trail["user"].iloc[0] == "ada"


def test_the_command_line_consults_the_same_table_for_the_operating_system_user(
    trained_registry, tmp_path, monkeypatch, demo_calibration
):
    import getpass

    from don_predictor.services.auth import hash_password
    from don_predictor.store.backup import export_version

    users = tmp_path / "users.toml"
    write_user(users, getpass.getuser(), hash_password("x"), "viewer")
    monkeypatch.setenv("DON_USERS_FILE", str(users))
    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "history.sqlite"))
    models = tmp_path / "models"
    zipped = tmp_path / "rf.zip"
    zipped.write_bytes(export_version(trained_registry, "rf", trained_registry.active_version("rf")))

    trained = run_cli("train", "--data", str(demo_calibration), "--backend", "rf", "--models-dir", str(models))
    assert trained.returncode == 2 and "cannot train models: it needs analyst" in trained.stderr
    imported = run_cli("import", "--file", str(zipped), "--models-dir", str(models))
    assert imported.returncode == 2 and "cannot import a model version: it needs admin" in imported.stderr
    assert not models.exists() or not any(models.glob("rf/*"))
    refused = list_audit(tmp_path / "history.sqlite").query("action == 'import_refused'")
    assert refused["user"].tolist() == [getpass.getuser()] and "Traceback" not in imported.stderr

    write_user(users, getpass.getuser(), hash_password("x"), "admin")
    assert run_cli("import", "--file", str(zipped), "--models-dir", str(models)).returncode == 0

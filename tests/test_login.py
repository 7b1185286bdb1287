"""The optional login: scrypt hashes, users and roles, the form in front of every page, process-wide lockout,
failing closed on a broken configuration, and the audit trail of logins."""

from __future__ import annotations

import pytest
from cli_helpers import run_cli
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from don_predictor.services.auth import (
    MAX_FAILURES,
    UsersFileError,
    authenticate,
    hash_password,
    read_users,
    role_allows,
    verify_password,
    write_user,
)

APP = str(ROOT / "app.py")
PASSWORD = "correct horse battery"
HASH = hash_password(PASSWORD)


def test_hash_is_salted_and_verifies():
    assert HASH.startswith("scrypt$16384$8$1$")
    assert hash_password(PASSWORD) != HASH  # a new salt each time
    assert verify_password(PASSWORD, HASH)
    assert not verify_password("wrong", HASH)
    assert not verify_password(PASSWORD, "scrypt$garbage")
    assert not verify_password(PASSWORD, "")


def test_roles_allow_what_their_rank_allows():
    assert role_allows("viewer", "score") and not role_allows("viewer", "train")
    assert role_allows("analyst", "train") and not role_allows("analyst", "activate")
    assert all(role_allows("admin", p) for p in ("score", "train", "activate", "import", "database_copy"))
    assert not role_allows("root", "score") and not role_allows(None, "score")


def test_users_file_round_trip_and_refusals(tmp_path):
    path = tmp_path / "users.toml"
    write_user(path, "ann", hash_password("a-pass"), "admin")
    write_user(path, "vic", hash_password("v-pass"), "viewer")
    write_user(path, "ann", hash_password("new-pass"), "analyst")  # replaces ann, keeps vic
    users = read_users(path)
    assert {name: u.role for name, u in users.items()} == {"ann": "analyst", "vic": "viewer"}
    assert authenticate(users, "ann", "new-pass").role == "analyst"
    assert authenticate(users, "ann", "a-pass") is None and authenticate(users, "nobody", "x") is None
    assert path.stat().st_mode & 0o077 == 0  # not readable by other users
    with pytest.raises(UsersFileError, match="role must be one of"):
        write_user(path, "eve", hash_password("x"), "root")
    (tmp_path / "bad.toml").write_text('[users.eve]\npassword_hash = "plain"\nrole = "admin"\n')
    with pytest.raises(UsersFileError, match="password_hash must come from"):
        read_users(tmp_path / "bad.toml")
    (tmp_path / "broken.toml").write_text("[users\n")
    with pytest.raises(UsersFileError, match="cannot be read"):
        read_users(tmp_path / "broken.toml")


def test_hash_password_command_prints_a_usable_hash():
    result = run_cli("hash-password", "--stdin", stdin="s3cret\n")
    assert result.returncode == 0
    assert verify_password("s3cret", result.stdout.strip())


def field(at: AppTest, label: str):
    """The login form's text field with this label."""
    (found,) = [t for t in at.text_input if t.label == label]
    return found


def log_in(at: AppTest, password: str) -> None:
    field(at, "Password").set_value(password)
    next(b for b in at.button if b.label == "Log in").click()
    at.run()


def new_session() -> AppTest:
    """Another browser session (a reload, a new tab) in the same server process."""
    return AppTest.from_file(APP, default_timeout=120)


def audit_actions() -> list[str]:
    from don_predictor.config import settings
    from don_predictor.store.audit import list_audit

    return list_audit(settings().history_db)["action"].tolist()


def test_wrong_password_is_rejected_and_right_one_admits(guarded_app, monkeypatch):
    monkeypatch.setenv("DON_PASSWORD_HASH", HASH)
    at = guarded_app
    at.run()
    assert [t.value for t in at.title] == ["DON Predictor"] and not at.dataframe  # only the form
    log_in(at, "guess")
    assert any("Wrong password" in e.value for e in at.error)
    log_in(at, PASSWORD)
    assert not at.exception
    assert any(h.value == "Active models" for h in at.subheader)  # the home page behind the form
    assert any(b.label == "Log out" for b in at.button)
    assert audit_actions()[:2] == ["login", "login_failed"]


def test_lockout_holds_across_sessions(guarded_app, monkeypatch):
    monkeypatch.setenv("DON_PASSWORD_HASH", HASH)
    at = guarded_app
    at.run()
    for _ in range(MAX_FAILURES):
        log_in(at, "guess")
    assert any("Too many failed attempts" in e.value for e in at.error)
    log_in(at, PASSWORD)
    assert any("Too many failed attempts" in e.value for e in at.error)
    assert not any(h.value == "Active models" for h in at.subheader)
    # A reload or a new tab is a new session: the lockout still holds, the right password does not get in.
    fresh = new_session()
    fresh.run()
    log_in(fresh, PASSWORD)
    assert any("Too many failed attempts" in e.value for e in fresh.error)
    assert not any(h.value == "Active models" for h in fresh.subheader)
    actions = audit_actions()
    assert actions.count("login_locked") == 1 and actions.count("login_failed") == MAX_FAILURES


def test_password_hash_from_secrets(guarded_app):
    at = guarded_app
    at.secrets["password_hash"] = HASH
    at.run()
    log_in(at, PASSWORD)
    assert any(h.value == "Active models" for h in at.subheader)


def test_no_hash_means_no_login(guarded_app):
    at = guarded_app
    at.run()
    assert any(h.value == "Active models" for h in at.subheader)


def test_a_malformed_secrets_file_stops_the_app(guarded_app, tmp_path):
    """Fail closed: a secrets.toml that cannot be read must not be taken for 'no password configured'."""
    import streamlit as st
    from streamlit import config

    broken = tmp_path / "secrets.toml"
    broken.write_text('password_hash = "unterminated\n')
    files = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(broken)])
    st.secrets._reset()
    try:
        at = guarded_app
        at.run()
        assert any("cannot start" in e.value and "secrets" in e.value for e in at.error), [e.value for e in at.error]
        assert not any(h.value == "Active models" for h in at.subheader)
    finally:
        config.set_option("secrets.files", files)
        st.secrets._reset()


def users_file(tmp_path) -> str:
    path = tmp_path / "users.toml"
    for name, role in (("vic", "viewer"), ("ann", "analyst"), ("ada", "admin")):
        write_user(path, name, hash_password(f"{name}-password"), role)
    return str(path)


def log_in_as(at: AppTest, name: str) -> None:
    field(at, "User name").set_value(name)
    log_in(at, f"{name}-password")


@pytest.mark.parametrize(
    "name,can_train,can_activate,can_import",
    [("vic", False, False, False), ("ann", True, False, False), ("ada", True, True, True)],
)
def test_roles_from_the_users_file_decide_what_a_user_may_do(
    guarded_app, tmp_path, monkeypatch, name, can_train, can_activate, can_import
):
    monkeypatch.setenv("DON_USERS_FILE", users_file(tmp_path))
    at = guarded_app
    at.run()
    log_in_as(at, name)
    assert any(h.value == "Active models" for h in at.subheader), [e.value for e in at.error]
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception
    assert any(b.label == "Train" for b in at.button) == can_train
    assert any(b.key and b.key.startswith("rollback_") for b in at.button) == can_activate
    at.switch_page("pages/status.py")
    at.run()
    assert not at.exception
    assert any(u.key == "import_zip" for u in at.get("file_uploader")) == can_import
    from don_predictor.config import settings
    from don_predictor.store.history import list_audit

    login = list_audit(settings().history_db).query("action == 'login'").iloc[0]
    assert login["user"] == name


def test_unknown_user_and_wrong_password_look_the_same(guarded_app, tmp_path, monkeypatch):
    monkeypatch.setenv("DON_USERS_FILE", users_file(tmp_path))
    at = guarded_app
    at.run()
    field(at, "User name").set_value("mallory")
    log_in(at, "ada-password")
    assert any(e.value == "Wrong user name or password." for e in at.error)
    field(at, "User name").set_value("ada")
    log_in(at, "wrong")
    assert any(e.value == "Wrong user name or password." for e in at.error)


def test_a_broken_users_file_stops_the_app(guarded_app, tmp_path, monkeypatch):
    path = tmp_path / "users.toml"
    path.write_text("[users.ada]\nrole = 'admin'\n")
    monkeypatch.setenv("DON_USERS_FILE", str(path))
    at = guarded_app
    at.run()
    assert any("cannot start" in e.value and "password_hash" in e.value for e in at.error)

"""Failed logins: a name that is no user's is never kept; attempts are counted in the history database before the
password is checked (parallel sessions, restarts and replicas share the count; one user's failures do not lock
another user at the same address); a removed user or a changed role takes effect on the next page run."""

from __future__ import annotations

import logging
import threading

import pytest
from pg_server import fresh_database
from test_login import field, log_in, log_in_as, new_session, users_file

from don_predictor.services import auth
from don_predictor.services.auth import ADDRESS_MAX_FAILURES, MAX_FAILURES, UNKNOWN_USER, hash_password, write_user


def audit_rows():
    from don_predictor.config import settings
    from don_predictor.store.audit import list_audit

    return list_audit(settings().history_db)


def test_a_password_typed_as_the_user_name_is_neither_logged_nor_stored(guarded_app, tmp_path, monkeypatch, caplog):
    from don_predictor.logs import LOGGER_NAME

    monkeypatch.setenv("DON_USERS_FILE", users_file(tmp_path))
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(caplog.handler)
    try:
        at = guarded_app
        at.run()
        field(at, "User name").set_value("AdminPw1")
        log_in(at, "AdminPw1")
        field(at, "User name").set_value("ada")
        log_in(at, "not-it")
    finally:
        logger.removeHandler(caplog.handler)
    failed = audit_rows().query("action == 'login_failed'")
    assert failed["user"].tolist() == ["ada", UNKNOWN_USER]  # newest first: a known user is named
    assert not audit_rows()["detail"].str.contains("AdminPw1").any()
    assert "AdminPw1" not in caplog.text and "login_failed" in caplog.text


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """The history the failures are kept in: a SQLite file, or a PostgreSQL database (the fleet's)."""
    return tmp_path / "history.sqlite" if request.param == "sqlite" else fresh_database()


def test_parallel_sessions_get_at_most_five_password_checks(db, monkeypatch):
    """12 sessions guessing one user's password at once made 12 real checks: the lock was read before the delay
    and counted after it. Counting comes first now, in one transaction."""
    users = {"ada": auth.User("ada", hash_password("right"), "admin")}
    checks, lock = [], threading.Lock()
    real = auth.verify_password

    def counted(password, stored):
        with lock:
            checks.append(password)
        return real(password, stored)

    monkeypatch.setattr(auth, "verify_password", counted)
    start = threading.Barrier(12)
    outcomes = []

    def guess(i: int) -> None:
        start.wait()
        outcome = auth.attempt_login(
            db, "user:ada", f"address:10.0.0.{i}", lambda: auth.authenticate(users, "ada", f"guess{i}"), delay_s=0.5
        )
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checks) <= MAX_FAILURES
    assert sum(o.locked_for_s > 0 for o in outcomes) >= 12 - MAX_FAILURES
    assert not any(o.admitted for o in outcomes)


def test_a_lockout_survives_a_restart(db):
    """The count lives in the history database: a new process (here: every engine dropped, as at a restart) or a
    second replica sees it."""
    from don_predictor.store.history.db import dispose_all

    for _ in range(MAX_FAILURES):
        assert not auth.attempt_login(db, "user:ada", "address:1.2.3.4", lambda: False, delay_s=0).admitted
    dispose_all()
    refused = auth.attempt_login(db, "user:ada", "address:5.6.7.8", lambda: True, delay_s=0)
    assert not refused.admitted and refused.locked_for_s > 0
    # The address has its own, higher limit: other users there are not locked out by ada's failures.
    assert auth.attempt_login(db, "user:bob", "address:1.2.3.4", lambda: True, delay_s=0).admitted
    assert ADDRESS_MAX_FAILURES > MAX_FAILURES


def test_one_users_failures_do_not_lock_another_user_at_the_same_address(guarded_app, tmp_path, monkeypatch):
    monkeypatch.setenv("DON_USERS_FILE", users_file(tmp_path))
    at = guarded_app
    at.run()
    for _ in range(MAX_FAILURES):
        field(at, "User name").set_value("ann")
        log_in(at, "wrong")
    assert any("Too many failed attempts" in e.value for e in at.error)
    log_in_as(at, "ann")  # ann is locked: refused without a check, and audited
    assert any("Too many failed attempts" in e.value for e in at.error)
    assert audit_rows()["action"].tolist()[0] == "login_refused_locked"
    other = new_session()  # the same address (AppTest has none: every session is "unknown")
    other.run()
    log_in_as(other, "ada")
    assert any(h.value == "Active models" for h in other.subheader), [e.value for e in other.error]


def rewrite_users(path: str, **roles: str) -> None:
    """The users file with only these users (name=role), their passwords as users_file() made them."""
    from pathlib import Path

    kept = {name: user for name, user in auth.read_users(Path(path)).items() if name in roles}
    Path(path).unlink()
    for name, user in kept.items():
        write_user(Path(path), name, user.password_hash, roles[name])


def test_a_removed_user_is_signed_out_and_a_new_role_applies_on_the_next_run(guarded_app, tmp_path, monkeypatch):
    path = users_file(tmp_path)
    monkeypatch.setenv("DON_USERS_FILE", path)
    admin, analyst = guarded_app, new_session()
    admin.run()
    log_in_as(admin, "ada")
    analyst.run()
    log_in_as(analyst, "ann")
    analyst.switch_page("pages/train.py")
    analyst.run()
    assert any(b.label == "Train" for b in analyst.button)

    rewrite_users(path, vic="viewer", ann="viewer")  # ada removed, ann demoted
    admin.switch_page("pages/status.py")
    admin.run()
    assert not any("Signed in as" in c.value for c in admin.caption)
    assert any(b.label == "Log in" for b in admin.button) and not admin.dataframe  # no audit trail, no rollback
    analyst.run()
    assert not any(b.label == "Train" for b in analyst.button)
    assert any(c.value == "Signed in as ann (viewer)" for c in analyst.caption)
    actions = audit_rows()["action"].tolist()
    assert "session_ended" in actions and "role_changed" in actions


def test_a_new_shared_password_signs_everyone_out(guarded_app, monkeypatch):
    from test_login import HASH, PASSWORD

    monkeypatch.setenv("DON_PASSWORD_HASH", HASH)
    at = guarded_app
    at.run()
    log_in(at, PASSWORD)
    assert any(h.value == "Active models" for h in at.subheader)
    monkeypatch.setenv("DON_PASSWORD_HASH", hash_password("a new one"))
    at.run()
    assert not any(h.value == "Active models" for h in at.subheader)
    assert any(b.label == "Log in" for b in at.button)
    assert audit_rows()["action"].tolist()[0] == "session_ended"

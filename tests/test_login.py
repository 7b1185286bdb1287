"""The optional login: scrypt hashes, the form in front of every page, lockout after repeated failures."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from don_predictor.auth import MAX_FAILURES, LoginGuard, hash_password, verify_password

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


def test_guard_locks_after_repeated_failures():
    now = [1000.0]
    guard = LoginGuard(clock=lambda: now[0])
    for _ in range(MAX_FAILURES):
        assert not guard.attempt("nope", HASH)
    assert guard.locked_for() > 0
    assert not guard.attempt(PASSWORD, HASH)  # even the right password waits out the lockout
    now[0] += 61
    assert guard.attempt(PASSWORD, HASH)


def test_hash_password_command_prints_a_usable_hash():
    result = subprocess.run(
        [sys.executable, "-m", "don_predictor", "hash-password", "--stdin"],
        input="s3cret\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0
    assert verify_password("s3cret", result.stdout.strip())


def log_in(at: AppTest, password: str) -> None:
    at.text_input[1].set_value(password)
    next(b for b in at.button if b.label == "Log in").click()
    at.run()


@pytest.fixture()
def guarded_app(trained_registry, monkeypatch):
    monkeypatch.setenv("DON_MODELS_DIR", str(trained_registry.root))
    monkeypatch.setattr("don_predictor.ui.login.FAILURE_DELAY_SECONDS", 0.0)
    return AppTest.from_file(APP, default_timeout=120)


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


def test_lockout_after_repeated_failures(guarded_app, monkeypatch):
    monkeypatch.setenv("DON_PASSWORD_HASH", HASH)
    at = guarded_app
    at.run()
    for _ in range(MAX_FAILURES):
        log_in(at, "guess")
    assert any("Too many failed attempts" in e.value for e in at.error)
    log_in(at, PASSWORD)
    assert any("Too many failed attempts" in e.value for e in at.error)
    assert not any(h.value == "Active models" for h in at.subheader)


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

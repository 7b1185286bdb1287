"""The optional login in front of every page.

- Streamlit's own OIDC, when `[auth]` is configured in .streamlit/secrets.toml: st.login / st.logout.
- Else a password, when DON_PASSWORD_HASH (or `password_hash` in secrets.toml) holds a hash from
  `python -m don_predictor hash-password`.
- Else no login (the default).
"""

from __future__ import annotations

import time

import streamlit as st

from don_predictor.auth import FAILURE_DELAY_SECONDS, LoginGuard
from don_predictor.config import settings
from don_predictor.logs import event


def _secret(name: str):
    try:
        return st.secrets.get(name)
    except FileNotFoundError:  # no secrets.toml at all
        return None
    except Exception:  # a malformed secrets.toml must not open the app
        return None


def password_hash() -> str:
    return settings().password_hash or str(_secret("password_hash") or "")


def oidc_configured() -> bool:
    return bool(_secret("auth"))


def current_user() -> str | None:
    if oidc_configured() and getattr(st.user, "is_logged_in", False):
        return st.user.get("email") or st.user.get("name")
    return st.session_state.get("user")


def require_login() -> bool:
    """True when the visitor may see the app; otherwise draws the login and returns False."""
    if oidc_configured():
        if st.user.is_logged_in:
            with st.sidebar:
                st.caption(f"Signed in as {current_user()}")
                st.button("Log out", on_click=st.logout)
            return True
        st.title("DON Predictor")
        st.button("Log in", on_click=st.login, type="primary")
        return False

    stored = password_hash()
    if not stored:
        return True
    if st.session_state.get("authenticated"):
        with st.sidebar:
            if st.button("Log out", key="logout"):
                st.session_state.pop("authenticated", None)
                st.session_state.pop("user", None)
                st.rerun()
        return True

    guard: LoginGuard = st.session_state.setdefault("login_guard", LoginGuard())
    st.title("DON Predictor")
    with st.form("login"):
        user = st.text_input("Name (recorded with your predictions)")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    if guard.locked_for() > 0:
        st.error(f"Too many failed attempts: try again in {guard.locked_for():.0f} s.")
        return False
    if submitted:
        if guard.attempt(password, stored):
            st.session_state["authenticated"] = True
            st.session_state["user"] = user.strip() or "user"
            event("login", user=st.session_state["user"])
            st.rerun()
        time.sleep(FAILURE_DELAY_SECONDS)  # slows down guessing
        event("login_failed", failures=guard.failures)
        if guard.locked_for() > 0:
            st.error(f"Too many failed attempts: try again in {guard.locked_for():.0f} s.")
        else:
            st.error("Wrong password.")
    return False

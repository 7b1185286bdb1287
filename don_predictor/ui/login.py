"""The optional login in front of every page, and who may do what.

- Streamlit's own OIDC, when `[auth]` is configured in .streamlit/secrets.toml: st.login / st.logout. Roles come from
  a claim (DON_OIDC_ROLE_CLAIM) or from allow-lists (DON_ADMINS, DON_ANALYSTS); without either everyone is admin.
- Else a users file (DON_USERS_FILE): user name -> scrypt hash -> role (viewer, analyst, admin).
- Else one shared password, when DON_PASSWORD_HASH (or `password_hash` in secrets.toml) holds a hash from
  `python -m don_predictor hash-password`: everyone who knows it is admin.
- Else no login (the default): everyone is admin.

Failures are counted for the whole process, per user name and per client address (auth.FAILURES), so a reload or a
new tab does not reset them. Any error reading the configured secrets or users stops the app (fail closed).
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from don_predictor.config import settings
from don_predictor.services.auth import (
    FAILURE_DELAY_SECONDS,
    FAILURES,
    PERMISSIONS,
    ROLES,
    User,
    UsersFileError,
    authenticate,
    read_users,
    role_allows,
    verify_password,
)
from don_predictor.store.audit import audit

ROLE_KEY, USER_KEY = "role", "user"


class LoginConfigError(RuntimeError):
    """The login is configured but its configuration cannot be read: nobody gets in until it is fixed."""


def _secret(name: str):
    try:
        return st.secrets.get(name)
    except FileNotFoundError as error:  # Streamlit raises this both for "no file" and for "file cannot be parsed"
        if any(Path(f).exists() for f in st.get_option("secrets.files") or []):
            raise LoginConfigError("the secrets file (.streamlit/secrets.toml) cannot be read: fix it") from error
        return None
    except Exception as error:
        raise LoginConfigError("the secrets file (.streamlit/secrets.toml) cannot be read: fix it") from error


def password_hash() -> str:
    return settings().password_hash or str(_secret("password_hash") or "")


def users() -> dict[str, User] | None:
    path = settings().users_file
    if path is None:
        return None
    try:
        return read_users(path)
    except UsersFileError as error:
        raise LoginConfigError(str(error)) from error


def oidc_configured() -> bool:
    return bool(_secret("auth"))


def current_user() -> str | None:
    if oidc_configured() and getattr(st.user, "is_logged_in", False):
        return st.user.get("email") or st.user.get("name")
    return st.session_state.get(USER_KEY)


def current_role() -> str:
    """The signed-in user's role; admin when no login is configured (one trusted user, as before logins)."""
    return st.session_state.get(ROLE_KEY, "admin")


def can(permission: str) -> bool:
    """Whether the current user may do `permission` (see auth.PERMISSIONS)."""
    return role_allows(current_role(), permission)


def explain_missing(permission: str) -> None:
    """A caption saying which role the action needs."""
    st.caption(f":material/lock: Your role ({current_role()}) cannot {permission}: it needs {PERMISSIONS[permission]}.")


def _client_address() -> str:
    try:
        address = st.context.ip_address
    except Exception:  # AppTest and some proxies give no address
        return "unknown"
    return address if isinstance(address, str) and address else "unknown"


def _oidc_role() -> str:
    config = settings()
    email = str(st.user.get("email") or "").lower()
    if config.oidc_role_claim:
        claimed = st.user.get(config.oidc_role_claim)
        claimed = claimed if isinstance(claimed, list) else [claimed]
        granted = [role for role in ROLES if role in claimed]
        return granted[-1] if granted else "viewer"
    if config.admins or config.analysts:
        return "admin" if email in config.admins else "analyst" if email in config.analysts else "viewer"
    return "admin"


def require_login() -> bool:
    """True when the visitor may see the app; otherwise draws the login and returns False."""
    if oidc_configured():
        if st.user.is_logged_in:
            if USER_KEY not in st.session_state:
                st.session_state[USER_KEY], st.session_state[ROLE_KEY] = current_user(), _oidc_role()
                audit("login", user=st.session_state[USER_KEY], role=st.session_state[ROLE_KEY], method="oidc")
            with st.sidebar:
                st.caption(f"Signed in as {current_user()} ({current_role()})")
                st.button("Log out", on_click=st.logout)
            return True
        st.title("DON Predictor")
        st.button("Log in", on_click=st.login, type="primary")
        return False

    known_users, stored = users(), password_hash()
    if known_users is None and not stored:
        return True
    if st.session_state.get("authenticated"):
        with st.sidebar:
            st.caption(f"Signed in as {st.session_state.get(USER_KEY)} ({current_role()})")
            if st.button("Log out", key="logout"):
                for key in ("authenticated", USER_KEY, ROLE_KEY):
                    st.session_state.pop(key, None)
                st.rerun()
        return True

    st.title("DON Predictor")
    with st.form("login"):
        label = "User name" if known_users is not None else "Name (recorded with your predictions)"
        name = st.text_input(label).strip()
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    address = _client_address()
    keys = [f"address:{address}"] + ([f"user:{name.lower()}"] if name else [])
    if submitted:
        if FAILURES.locked_for(keys) > 0:
            st.error(f"Too many failed attempts: try again in {FAILURES.locked_for(keys):.0f} s.")
            return False
        if known_users is not None:
            user = authenticate(known_users, name, password)
            admitted, role = user is not None, user.role if user else None
        else:
            admitted, role = verify_password(password, stored), "admin"
        if admitted:
            FAILURES.success(keys)
            st.session_state.update({"authenticated": True, USER_KEY: name or "user", ROLE_KEY: role})
            audit("login", user=st.session_state[USER_KEY], role=role, address=address)
            st.rerun()
        time.sleep(FAILURE_DELAY_SECONDS)  # slows down guessing
        failures, locked = FAILURES.failure(keys)
        audit("login_failed", user=name or None, address=address, failures=failures)
        if locked:
            audit("login_locked", user=name or None, address=address)
        if FAILURES.locked_for(keys) > 0:
            st.error(f"Too many failed attempts: try again in {FAILURES.locked_for(keys):.0f} s.")
        else:
            st.error("Wrong user name or password." if known_users is not None else "Wrong password.")
    return False

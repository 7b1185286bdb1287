"""The optional login in front of every page, and who may do what.

- Streamlit's own OIDC, when `[auth]` is configured in .streamlit/secrets.toml: st.login / st.logout. Roles come from
  a claim (DON_OIDC_ROLE_CLAIM) or from allow-lists (DON_ADMINS, DON_ANALYSTS); without either everyone is admin.
- Else a users file (DON_USERS_FILE): user name -> scrypt hash -> role (viewer, analyst, admin).
- Else one shared password, when DON_PASSWORD_HASH (or `password_hash` in secrets.toml) holds a hash from
  `python -m don_predictor hash-password`: everyone who knows it is admin.
- Else no login (the default): everyone is admin.

Failed logins are counted in the history database, per user and (with a higher limit) per client address, before
the password is checked (auth.attempt_login): a reload, a new tab, a restart or another replica does not reset them.
A typed name that is no user's is never logged or stored (it may be a password typed in the wrong field). The
signed-in user and role are checked against the users file on every page run: a removed user is signed out, a new
role applies at once. Any error reading the configured secrets or users stops the app (fail closed).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from don_predictor.config import settings
from don_predictor.plain_text import markdown_literal
from don_predictor.services.auth import (
    ROLES,
    User,
    UsersFileError,
    attempt_login,
    authenticate,
    current_users,
    failed_name,
    name_tag,
    verify_password,
)
from don_predictor.services.permissions import Actor, PermissionDenied, allows, refusal
from don_predictor.store.audit import audit
from don_predictor.store.history import HistoryError

ROLE_KEY, USER_KEY, PASSWORD_TAG_KEY = "role", "user", "password_tag"


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
        return current_users(path)
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


def current_actor() -> Actor:
    """Who acts in this session, for the checks and the audit of the registry layer (services/permissions.py)."""
    return Actor(current_user(), current_role())


def actor_now(actor: Actor) -> Actor:
    """The same user with the role the users file gives now (none when removed): a download built later, on its
    click, is checked against that, not against the role the page was drawn with."""
    path = settings().users_file
    if path is None:
        return actor
    user = current_users(path).get(actor.name or "")
    return Actor(actor.name, user.role if user else "none")


def guarded_download(label: str, action: str, build, file_name: str, mime: str, **kwargs) -> bool:
    """A download button for an action of the permission table: drawn only when the role allows it, and built on
    the click with the role checked again there (`build(actor)` checks and audits in the registry layer)."""
    if not can(action):
        return False
    actor = current_actor()

    def on_click() -> bytes:
        now = actor_now(actor)
        try:
            return build(now)
        except PermissionDenied:  # the role changed since the page was drawn: the browser says the file failed
            audit("download_refused", user=now.name, role=now.role, refused=action)
            raise

    st.download_button(label, on_click, file_name, mime, on_click="ignore", **kwargs)
    return True


def can(action: str) -> bool:
    """Whether the current user may do `action` (the table in services/permissions.py)."""
    return allows(current_role(), action)


def explain_missing(action: str) -> None:
    """A caption saying which role the action needs."""
    st.caption(":material/lock: " + markdown_literal(refusal(current_role(), action)))


def signed_in_caption() -> None:
    st.caption(f"Signed in as {markdown_literal(current_user())} ({current_role()})")


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
            elif (role := _oidc_role()) != current_role():  # the allow-lists or the claim changed: applies now
                audit("role_changed", user=current_user(), previous=current_role(), role=role)
                st.session_state[ROLE_KEY] = role
            with st.sidebar:
                signed_in_caption()
                st.button("Log out", on_click=st.logout)
            return True
        st.title("DON Predictor")
        st.button("Log in", on_click=st.login, type="primary")
        return False

    known_users, stored = users(), password_hash()
    if known_users is None and not stored:
        return True
    if st.session_state.get("authenticated") and _still_allowed(known_users, stored):
        with st.sidebar:
            signed_in_caption()
            if st.button("Log out", key="logout"):
                _sign_out()
                st.rerun()
        return True
    return _login_form(known_users, stored)


def _sign_out() -> None:
    for key in ("authenticated", USER_KEY, ROLE_KEY, PASSWORD_TAG_KEY):
        st.session_state.pop(key, None)


def _still_allowed(known_users: dict[str, User] | None, stored: str) -> bool:
    """Re-check the session against the users file (read again only when it changed): a removed user is signed
    out, a changed role applies from this run on. With a shared password, a new password signs everyone out."""
    name = st.session_state.get(USER_KEY)
    if known_users is None:
        if st.session_state.get(PASSWORD_TAG_KEY) == name_tag("session", stored):
            return True
        audit("session_ended", user=name, reason="the shared password changed")
        _sign_out()
        return False
    user = known_users.get(name)
    if user is None:
        audit("session_ended", user=name, reason="no longer in the users file")
        _sign_out()
        return False
    if user.role != current_role():
        audit("role_changed", user=name, previous=current_role(), role=user.role)
        st.session_state[ROLE_KEY] = user.role
    return True


def _login_form(known_users: dict[str, User] | None, stored: str) -> bool:
    st.title("DON Predictor")
    with st.form("login"):
        label = "User name" if known_users is not None else "Name (recorded with your predictions)"
        name = st.text_input(label).strip()
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    if not submitted:
        return False
    address = _client_address()
    secret = stored + "".join(sorted(u.password_hash for u in (known_users or {}).values()))
    # The name is logged and stored only when it is a user's; anything else may be a password in the wrong field.
    shown, user_key = failed_name(name, known_users, secret)
    if known_users is not None:
        found: list[User] = []

        def check() -> bool:
            found.extend(u for u in [authenticate(known_users, name, password)] if u)
            return bool(found)
    else:

        def check() -> bool:
            return verify_password(password, stored)

    try:
        outcome = attempt_login(settings().history_db, user_key, f"address:{address}", check)
    except HistoryError:  # fail closed: an attempt that cannot be counted is not checked
        audit("login_unavailable", user=shown, address=address)
        st.error("Logging in is not possible now: the history database cannot be written. Try again later.")
        return False
    if outcome.locked_for_s > 0:
        audit("login_refused_locked", user=shown, address=address, failures=outcome.failures)
        st.error(f"Too many failed attempts: try again in {outcome.locked_for_s:.0f} s.")
        return False
    if outcome.admitted:
        role = found[0].role if known_users is not None else "admin"
        st.session_state.update({"authenticated": True, USER_KEY: name or "user", ROLE_KEY: role})
        st.session_state[PASSWORD_TAG_KEY] = name_tag("session", stored)  # which shared password let them in
        audit("login", user=st.session_state[USER_KEY], role=role, address=address)
        st.rerun()
    audit("login_failed", user=shown, address=address, failures=outcome.failures)
    if outcome.locked_now:
        audit("login_locked", user=shown, address=address)
        st.error("Too many failed attempts: try again in a minute.")
    else:
        st.error("Wrong user name or password." if known_users is not None else "Wrong password.")
    return False

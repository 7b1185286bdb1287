"""Password hashing, users and roles, and the lockout (kept in the history database) for the optional login.

No Streamlit here; don_predictor/ui/login.py draws the form.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from don_predictor.services.permissions import ROLES, allows

# scrypt cost: n=2**14, r=8, p=1 takes ~50 ms and 16 MB: slow for guessing, quick for a login.
N, R, P = 2**14, 8, 1
MAX_FAILURES = 5
LOCKOUT_SECONDS = 60.0
FAILURE_DELAY_SECONDS = 0.5

ADDRESS_MAX_FAILURES = 20  # one client address may hold several users (an office behind one proxy)
USER_NAME = re.compile(r"[A-Za-z0-9._@+-]{1,64}")


class UsersFileError(ValueError):
    """The users file cannot be read or holds an entry the app cannot use."""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """'scrypt$n$r$p$salt$hash' with base64 parts: paste it into DON_PASSWORD_HASH or a users file."""
    if not password:
        raise ValueError("the password is empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, expected = stored.split("$")
        if kind != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(_unb64(expected))
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, _unb64(expected))


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches, checked for unknown user names so that they take as long as known ones."""
    return hash_password(secrets.token_hex(16))


def role_allows(role: str | None, permission: str) -> bool:
    """True when `role` may do `permission` (see services/permissions.py, the one table)."""
    return allows(role, permission)


# --- users file -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    role: str


def read_users(path: Path) -> dict[str, User]:
    """A TOML users file: one `[users.<name>]` table with `password_hash` and `role` per user."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsersFileError(f"the users file {Path(path).name} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UsersFileError(f"the users file {Path(path).name} cannot be read: {error}") from None
    users = {}
    for name, entry in (data.get("users") or {}).items():
        if not USER_NAME.fullmatch(name) or not isinstance(entry, dict):
            raise UsersFileError(f"the users file has an invalid entry {name!r}")
        role, stored = entry.get("role"), entry.get("password_hash")
        if role not in ROLES:
            raise UsersFileError(f"user {name!r}: role must be one of {', '.join(ROLES)}, got {role!r}")
        if not isinstance(stored, str) or not stored.startswith("scrypt$"):
            raise UsersFileError(f"user {name!r}: password_hash must come from `python -m don_predictor hash-password`")
        users[name] = User(name, stored, role)
    if not users:
        raise UsersFileError(f"the users file {Path(path).name} lists no users")
    return users


def current_users(path: Path) -> dict[str, User]:
    """read_users, read again only when the file changed (its mtime and size): cheap enough for every page run, so a
    removed user or a changed role takes effect on the next run."""
    try:
        stat = Path(path).stat()
    except FileNotFoundError:
        raise UsersFileError(f"the users file {Path(path).name} does not exist") from None
    except OSError as error:
        raise UsersFileError(f"the users file {Path(path).name} cannot be read: {error}") from None
    return _users_as_of(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _users_as_of(path: str, _mtime_ns: int, _size: int) -> dict[str, User]:
    return read_users(Path(path))


def write_user(path: Path, name: str, password_hash: str, role: str) -> None:
    """Add or replace one user in a users file (created when missing); other users are kept."""
    if not USER_NAME.fullmatch(name):
        raise UsersFileError(f"user names use letters, digits and . _ @ + - (at most 64), got {name!r}")
    if role not in ROLES:
        raise UsersFileError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    path = Path(path)
    users = read_users(path) if path.exists() else {}
    users[name] = User(name, password_hash, role)
    lines = ["# DON Predictor users: written by `python -m don_predictor hash-password --user NAME --role ROLE`.", ""]
    for user in users.values():
        lines += [f'[users."{user.name}"]', f'password_hash = "{user.password_hash}"', f'role = "{user.role}"', ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text("\n".join(lines))
    temporary.chmod(0o600)  # hashes are not passwords, but there is no reason to show them to other users
    temporary.replace(path)


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    """The user when name and password match; unknown names cost as much time as wrong passwords."""
    user = users.get(name)
    ok = verify_password(password, user.password_hash if user else _dummy_hash())
    return user if ok and user else None


# --- who failed, and the lockout ----------------------------------------------------------------------------------


UNKNOWN_USER = "unknown user"


def name_tag(name: str, secret: str) -> str:
    """A short keyed hash of a typed name that is no user's (often a password typed in the wrong field): attempts
    with the same name can be counted without keeping the name. `secret` is the configured hashes, which every
    replica shares and no log holds."""
    return hmac.new(secret.encode(), name.strip().lower().encode(), hashlib.sha256).hexdigest()[:12]


def failed_name(name: str, known: dict[str, User] | None, secret: str) -> tuple[str, str]:
    """(what a log or the audit may say, the lockout key) of a name typed at a failed login: the name itself only
    when it is a known user."""
    if known is not None and name in known:
        return name, f"user:{name.lower()}"
    return UNKNOWN_USER, f"user:?{name_tag(name, secret)}"


@dataclass(frozen=True)
class Attempt:
    admitted: bool
    locked_for_s: float  # > 0: refused without checking the password
    failures: int  # of the user, this attempt included
    locked_now: bool  # this failure reached a limit


def attempt_login(
    db, user_key: str, address_key: str, check: Callable[[], bool], *, delay_s: float | None = None
) -> Attempt:
    """Count the attempt in the history database BEFORE `check` verifies the password, then check it: parallel
    sessions get at most MAX_FAILURES checks per user between them, and a restart or another replica counts on."""
    from don_predictor.store.history.lockout_store import claim_attempt, forget_attempt

    limits = {user_key: MAX_FAILURES, address_key: ADDRESS_MAX_FAILURES}
    claim = claim_attempt(db, limits, timedelta(seconds=LOCKOUT_SECONDS))
    if claim.attempt_id is None:
        return Attempt(False, claim.wait_s, claim.counts[user_key], False)
    if check():
        forget_attempt(db, claim.attempt_id, [user_key])
        return Attempt(True, 0.0, 0, False)
    time.sleep(FAILURE_DELAY_SECONDS if delay_s is None else delay_s)  # slows guessing; counted before already
    locked = any(claim.counts[key] >= limit for key, limit in limits.items())
    return Attempt(False, 0.0, claim.counts[user_key], locked)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)

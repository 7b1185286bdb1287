"""Password hashing, users and roles, and process-wide lockout for the optional login.

No Streamlit here; don_predictor/ui/login.py draws the form.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# scrypt cost: n=2**14, r=8, p=1 takes ~50 ms and 16 MB: slow for guessing, quick for a login.
N, R, P = 2**14, 8, 1
MAX_FAILURES = 5
LOCKOUT_SECONDS = 60.0
FAILURE_DELAY_SECONDS = 0.5

# What each role may do; a role may do everything the roles before it may.
ROLES = ("viewer", "analyst", "admin")
PERMISSIONS = {
    "score": "viewer",  # upload and score, see results
    "history": "viewer",
    "train": "analyst",
    "export": "analyst",  # download a model version as a zip
    "activate": "admin",  # activate or roll back a version
    "import": "admin",
    "delete": "admin",
}
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
    """True when `role` may do `permission` (unknown roles may do nothing)."""
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(PERMISSIONS[permission])


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


# --- lockout ----------------------------------------------------------------------------------------------------------


class FailureTracker:
    """Failed logins counted per key (a user name, a client address) for the whole process, not per browser session,
    so a reload or a new tab does not reset them. After MAX_FAILURES a key is locked for LOCKOUT_SECONDS."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked_for(self, keys: list[str]) -> float:
        now = self.clock()
        with self._lock:
            return max([0.0] + [self._locked_until.get(key, 0.0) - now for key in keys])

    def failure(self, keys: list[str]) -> tuple[int, bool]:
        """Count a failure for every key; returns (the highest count, whether this failure locked a key)."""
        locked, highest = False, 0
        with self._lock:
            for key in keys:
                count = self._failures.get(key, 0) + 1
                highest = max(highest, count)
                if count >= MAX_FAILURES:
                    self._locked_until[key] = self.clock() + LOCKOUT_SECONDS
                    count, locked = 0, True
                self._failures[key] = count
        return highest, locked

    def success(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


FAILURES = FailureTracker()  # the process's one tracker


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)

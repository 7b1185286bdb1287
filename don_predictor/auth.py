"""Password hashing for the optional login: salted scrypt, constant-time comparison, lockout bookkeeping.

No Streamlit here; don_predictor/ui/login.py draws the form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

# scrypt cost: n=2**14, r=8, p=1 takes ~50 ms and 16 MB: slow for guessing, quick for a login.
N, R, P = 2**14, 8, 1
MAX_FAILURES = 5
LOCKOUT_SECONDS = 60.0
FAILURE_DELAY_SECONDS = 0.5


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """'scrypt$n$r$p$salt$hash' with base64 parts: paste it into DON_PASSWORD_HASH or secrets.toml."""
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


@dataclass
class LoginGuard:
    """Failures per session; after MAX_FAILURES the session is locked for LOCKOUT_SECONDS."""

    failures: int = 0
    locked_until: float = 0.0
    clock: object = field(default=time.monotonic, repr=False)

    def locked_for(self) -> float:
        return max(0.0, self.locked_until - self.clock())

    def attempt(self, password: str, stored: str) -> bool:
        if self.locked_for() > 0:
            return False
        if verify_password(password, stored):
            self.failures = 0
            return True
        self.failures += 1
        if self.failures >= MAX_FAILURES:
            self.locked_until = self.clock() + LOCKOUT_SECONDS
            self.failures = 0
        return False


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)

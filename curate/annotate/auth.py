"""Secrets for the annotation store: password hashing, one-time tokens and session tokens.

Only hashes are stored. Passwords use scrypt (stdlib) with a per-user salt; session and
invite tokens are 32 random bytes, so a plain SHA-256 of them is enough to make a stolen database
useless for logging in.

``check_password`` runs the KDF exactly once whatever it is given (no hash, a one-time-token user,
an unknown user), so a login's duration does not tell whether the user name exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
# checked against when there is no real hash: a fixed salt, and a key no password is known to produce
_DUMMY_SALT = b"curate-no-user!!"
_DUMMY_KEY = bytes(32)


def _kdf(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = _kdf(password, salt)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(key).decode()


def check_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored` (False for a missing hash, after the same amount of work)."""
    real = bool(stored) and stored.startswith("scrypt$") and stored.count("$") == 2
    if real:
        _, salt_b64, key_b64 = stored.split("$")
        salt, want = base64.b64decode(salt_b64), base64.b64decode(key_b64)
    else:
        salt, want = _DUMMY_SALT, _DUMMY_KEY
    ok = hmac.compare_digest(_kdf(password, salt), want)
    return ok and real


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison that is false when either side is missing."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))

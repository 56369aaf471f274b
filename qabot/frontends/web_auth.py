"""Operator sign-in for the web dashboard, on the standard library only: PBKDF2 password
hashes (as in the config, never passwords), signed session cookies that expire, and CSRF tokens
bound to the session. Pure functions of their inputs (the secret, the clock), so each is tested
on its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

SCHEME = "pbkdf2_sha256"
ITERATIONS = 600_000  # OWASP's figure for PBKDF2-HMAC-SHA256 (2023)
SESSION_HOURS = 12


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, iterations: int = ITERATIONS,
                  salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$ITERATIONS$SALT$HASH``: what an operator entry in the config holds."""
    if not password:
        raise ValueError("an empty password")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash (constant time; False for any malformed
    entry rather than an error, so a typo in the config locks out, it never lets in)."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        computed = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(salt),
                                       int(iterations))
        return hmac.compare_digest(computed, _unb64(digest))
    except (ValueError, TypeError):
        return False


def operators(entries: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``name:hash`` entries (the ``web_operators`` setting) -> {name: hash}."""
    accounts = {}
    for entry in entries:
        name, _, stored = entry.partition(":")
        if name and stored:
            accounts[name.strip()] = stored.strip()
    return accounts


def _sign(secret: str, message: str) -> str:
    return _b64(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest())


def issue_session(secret: str, operator: str, *, now: float | None = None,
                  hours: float = SESSION_HOURS) -> str:
    """A session cookie value: the operator, its expiry and a nonce, signed with ``secret``."""
    now = time.time() if now is None else now
    body = f"{_b64(operator.encode())}.{int(now + hours * 3600)}.{secrets.token_hex(8)}"
    return f"{body}.{_sign(secret, body)}"


def read_session(secret: str, token: str | None, *, now: float | None = None) -> str | None:
    """The operator a session cookie names, if its signature holds and it has not expired."""
    if not token or token.count(".") != 3:
        return None
    body, _, signature = token.rpartition(".")
    if not hmac.compare_digest(signature, _sign(secret, body)):
        return None
    name, expiry, _nonce = body.split(".")
    now = time.time() if now is None else now
    try:
        if int(expiry) < now:
            return None
        return _unb64(name).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def csrf_token(secret: str, session: str) -> str:
    """The token every dashboard form carries: bound to the session, so a page on another
    site cannot forge a form post with the operator's cookie."""
    return _sign(secret, f"csrf:{session}")


def check_csrf(secret: str, session: str | None, token: str | None) -> bool:
    return bool(session and token) and hmac.compare_digest(token, csrf_token(secret, session))

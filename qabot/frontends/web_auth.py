"""Operator sign-in for the web dashboard, on the standard library only: PBKDF2 password
hashes (as in the config, never passwords), signed session cookies that expire, and CSRF tokens
bound to the session. Pure functions of their inputs (the secret, the clock), so each is tested
on its own.

A session cookie names the operator, its expiry and the id of its session row in the history
database (``history.sessions``), signed: the signature and expiry are checked here, the row
(signed out? ended everywhere?) by the dashboard. Cookie and form values come from the client
and may hold anything: every check here answers None or False for a malformed value, never an
error (the digests are compared as bytes: ``hmac.compare_digest`` raises TypeError on a str
with a non-ASCII character).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

SCHEME = "pbkdf2_sha256"
ITERATIONS = 600_000  # OWASP's figure for PBKDF2-HMAC-SHA256 (2023)
SESSION_HOURS = 12
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # what a session id may be (token_urlsafe)


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
    return _b64(hmac.new(secret.encode(), message.encode("utf-8", "surrogatepass"),
                         hashlib.sha256).digest())


def _same(given: str | None, expected: str) -> bool:
    """Constant-time equality of a client's value and ours, for any str the client sent."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


@dataclass(frozen=True)
class SessionCookie:
    """What a valid session cookie says: whose it is, which session, until when (epoch s)."""

    operator: str
    session_id: str
    expires: int


def issue_session(secret: str, operator: str, session_id: str, *, now: float | None = None,
                  hours: float = SESSION_HOURS) -> str:
    """A session cookie value: the operator, its expiry and its session's id, signed with
    ``secret``."""
    if not SESSION_ID.fullmatch(session_id):
        raise ValueError(f"a session id must match {SESSION_ID.pattern}, got {session_id!r}")
    now = time.time() if now is None else now
    body = f"{_b64(operator.encode())}.{int(now + hours * 3600)}.{session_id}"
    return f"{body}.{_sign(secret, body)}"


def read_session(secret: str, token: str | None, *,
                 now: float | None = None) -> SessionCookie | None:
    """What a session cookie says, if its signature holds and it has not expired; None for
    anything else (a forged, expired or malformed value)."""
    if not token or token.count(".") != 3:
        return None
    body, _, signature = token.rpartition(".")
    if not _same(signature, _sign(secret, body)):
        return None
    name, expiry, session_id = body.split(".")
    now = time.time() if now is None else now
    if not (expiry.isascii() and expiry.isdigit() and SESSION_ID.fullmatch(session_id)):
        return None
    if int(expiry) < now:
        return None
    try:
        return SessionCookie(_unb64(name).decode(), session_id, int(expiry))
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        return None


def csrf_token(secret: str, session: str) -> str:
    """The token every dashboard form carries: bound to the session, so a page on another
    site cannot forge a form post with the operator's cookie."""
    return _sign(secret, f"csrf:{session}")


def check_csrf(secret: str, session: str | None, token: str | None) -> bool:
    """Whether ``token`` is the session's CSRF token (False for a missing or malformed one)."""
    return bool(session and token) and _same(token, csrf_token(secret, session))

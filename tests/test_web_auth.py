"""Operator sign-in pieces: password hashes, signed sessions, CSRF tokens."""

from __future__ import annotations

import pytest

from qabot.frontends.web_auth import (
    SessionCookie,
    _sign,
    check_csrf,
    csrf_token,
    hash_password,
    issue_session,
    operators,
    read_session,
    verify_password,
)

FAST = 1_000  # iterations for the tests; the default is 600,000


def test_password_hashes_verify_and_never_hold_the_password():
    stored = hash_password("correct horse", iterations=FAST)
    assert stored.startswith("pbkdf2_sha256$1000$") and "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert hash_password("correct horse", iterations=FAST) != stored  # salted
    for broken in ("", "plain-text", "md5$1$a$b", "pbkdf2_sha256$x$y$z"):
        assert not verify_password("correct horse", broken)
    with pytest.raises(ValueError):
        hash_password("")
    assert operators(["ann:" + stored, "bad-entry", " bob : h "]) == {"ann": stored, "bob": "h"}


def test_sessions_are_signed_and_expire():
    token = issue_session("s3cret", "ann", "sid-1", now=1000.0, hours=1)
    assert read_session("s3cret", token, now=1000.0 + 3599) == SessionCookie("ann", "sid-1",
                                                                               4600)
    assert read_session("s3cret", token, now=1000.0 + 3601) is None  # expired
    assert read_session("other-secret", token, now=1000.0) is None
    name, expiry, session_id, signature = token.split(".")
    forged = ".".join([name, str(int(expiry) + 10**6), session_id, signature])
    assert read_session("s3cret", forged, now=1000.0) is None  # a longer life is not signed
    other = ".".join([name, expiry, "sid-2", signature])
    assert read_session("s3cret", other, now=1000.0) is None  # nor another session's id
    for junk in (None, "", "a.b", "a.b.c.d", "....", "." * 5000):
        assert read_session("s3cret", junk, now=1000.0) is None
    with pytest.raises(ValueError):
        issue_session("s3cret", "ann", "not.a.cookie id")  # the id must be cookie-safe


def test_malformed_cookies_and_tokens_are_refused_not_errors():
    """A cookie or CSRF value with a non-ASCII character (or a lone surrogate) is simply not
    valid: hmac.compare_digest raises TypeError on such a str, so the checks compare bytes."""
    token = issue_session("k", "ann", "sid-1")
    for bad in (token[:-1] + "é", token + "é", "é.é.é.é", "a.b.c.\udc80", "ä" * 43):
        assert read_session("k", bad) is None
        assert not check_csrf("k", token, bad)
        assert not check_csrf("k", bad, csrf_token("k", token))
    name, expiry, session_id, _ = token.split(".")
    body = f"{name}.{expiry}.{session_id}"
    # a body that is not ours cannot carry a good signature; even a well-signed odd body
    # (a non-ASCII id, a non-decimal expiry) reads as no session, never an error
    for odd in (f"{name}.{expiry}.sid-é", f"{name}.1e9.{session_id}", f"é.{expiry}.x"):
        assert read_session("k", f"{odd}.{_sign('k', odd)}") is None
    assert read_session("k", f"{body}.{_sign('k', body)}") is not None


def test_csrf_tokens_are_bound_to_the_session():
    one = issue_session("k", "ann", "sid-1")
    two = issue_session("k", "ann", "sid-2")
    assert check_csrf("k", one, csrf_token("k", one))
    assert not check_csrf("k", two, csrf_token("k", one))
    assert not check_csrf("k", one, None) and not check_csrf("k", None, "x")

"""Operator sign-in pieces: password hashes, signed sessions, CSRF tokens."""

from __future__ import annotations

import pytest

from qabot.frontends.web_auth import (
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
    token = issue_session("s3cret", "ann", now=1000.0, hours=1)
    assert read_session("s3cret", token, now=1000.0 + 3599) == "ann"
    assert read_session("s3cret", token, now=1000.0 + 3601) is None  # expired
    assert read_session("other-secret", token, now=1000.0) is None
    name, expiry, nonce, signature = token.split(".")
    forged = ".".join([name, str(int(expiry) + 10**6), nonce, signature])
    assert read_session("s3cret", forged, now=1000.0) is None  # a longer life is not signed
    for junk in (None, "", "a.b", "a.b.c.d"):
        assert read_session("s3cret", junk, now=1000.0) is None


def test_csrf_tokens_are_bound_to_the_session():
    one = issue_session("k", "ann")
    two = issue_session("k", "ann")
    assert check_csrf("k", one, csrf_token("k", one))
    assert not check_csrf("k", two, csrf_token("k", one))
    assert not check_csrf("k", one, None) and not check_csrf("k", None, "x")

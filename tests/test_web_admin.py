"""The operator dashboard: sign-in, the session cookie, CSRF, and what the page shows."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from qabot.frontends.web import build_app
from qabot.frontends.web_auth import hash_password

SECRET = "a-secret-key-for-the-tests"


@pytest.fixture
def admin(make_engine):
    engine = make_engine()
    engine.settings = replace(
        engine.settings, web_secret_key=SECRET,
        web_operators=(f"ann:{hash_password('pw-ann', iterations=1000)}",
                       f"bob:{hash_password('pw-bob', iterations=1000)}"))
    app = build_app(engine, engine.settings)
    client = TestClient(app, base_url="https://testserver")
    client.engine, client.app_ = engine, app
    return client


def browser(admin: TestClient, **cookies) -> TestClient:
    """Another browser on the same app (its own cookies)."""
    return TestClient(admin.app_, base_url="https://testserver", cookies=cookies)


def raw_cookie(admin: TestClient, value: bytes, path: str, **kwargs):
    """A request whose Cookie header is sent byte for byte (a browser may send any byte)."""
    return admin.request(kwargs.pop("method", "GET"), path,
                         headers=[(b"cookie", b"qabot_session=" + value)],
                         follow_redirects=False, **kwargs)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def sign_in(client: TestClient, name: str = "ann", password: str = "pw-ann"):
    token = csrf_of(client.get("/admin/login").text)
    return client.post("/admin/login", data={"name": name, "password": password,
                                             "csrf": token}, follow_redirects=False)


def test_the_dashboard_needs_a_sign_in_with_the_right_password(admin):
    first = admin.get("/admin", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/admin/login"
    assert sign_in(admin, password="wrong").status_code == 401
    assert sign_in(admin, name="nobody").status_code == 401
    no_token = admin.post("/admin/login", data={"name": "ann", "password": "pw-ann"})
    assert no_token.status_code == 403  # the sign-in form carries its CSRF token too
    ok = sign_in(admin)
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "qabot_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/admin" in cookie and "Secure" in cookie  # over HTTPS
    page = admin.get("/admin")
    assert page.status_code == 200 and "Last 30 days" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_the_page_shows_votes_unanswered_questions_and_handoffs(admin):
    engine = admin.engine
    conversation = engine.start("web", "v-1", "Vera")
    answer = engine.respond(conversation, "When can annual payments be refunded?")
    engine.feedback(answer.message_id, helpful=False)
    engine.respond(conversation, "Who is the CEO <script>alert(1)</script>?")
    waiting = engine.start("telegram", "77", "Tom")
    engine.respond(waiting, "hello")
    engine.hand_off(waiting, "/human")
    sign_in(admin)
    page = admin.get("/admin").text
    assert "When can annual payments be refunded?" in page  # the 👎 answer, with its source
    assert "refunds.md" in page
    assert "Who is the CEO &lt;script&gt;" in page and "<script>" not in page  # escaped
    assert f"Conversation {waiting}" in page and "Tom" in page
    assert "👎 1" in page and "<svg" in page


def test_state_changes_need_the_session_and_its_csrf_token(admin):
    engine = admin.engine
    waiting = engine.start("telegram", "78", "Uma")
    engine.hand_off(waiting, "/human")
    assert admin.post(f"/admin/release/{waiting}").status_code == 403  # not signed in
    sign_in(admin)
    assert admin.post(f"/admin/release/{waiting}", data={"csrf": "forged"}).status_code == 403
    assert engine.history.conversation(waiting).status == "handed_off"
    token = csrf_of(admin.get("/admin").text)
    released = admin.post(f"/admin/release/{waiting}", data={"csrf": token})
    assert released.status_code == 200 and "is back with the bot" in released.text
    assert engine.history.conversation(waiting).status == "open"
    rebuilt = admin.post("/admin/rebuild", data={"csrf": token})
    assert "Rebuild failed" in rebuilt.text and "QABOT_KB_DIR" in rebuilt.text  # none set
    out = admin.post("/admin/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303
    assert admin.get("/admin", follow_redirects=False).status_code == 303


def test_related_replies_show_as_their_own_kind_and_among_the_unanswered(make_engine):
    from tests.fakes import related_confidences

    engine = make_engine(confidences=related_confidences(), answer_confidence=None,
                         kb_base_url="https://help.example.com/", web_secret_key=SECRET,
                         web_operators=(f"ann:{hash_password('pw-ann', iterations=1000)}",))
    client = TestClient(build_app(engine, engine.settings), base_url="https://testserver")
    conversation = engine.start("web", "v-3", "Rita")
    related = engine.respond(conversation, "When can annual payments be refunded?")
    assert related.kind == "related"
    engine.feedback(related.message_id, helpful=False)
    engine.respond(conversation, "How do I export a notebook?")
    sign_in(client)
    page = client.get("/admin").text
    assert "answer rate 0%, 2 related suggestions (not answers" in page
    rated = page[page.index("Replies rated 👎"):page.index("Waiting for a person")]
    assert "<td>related</td>" in rated and "<td>answer</td>" not in rated
    assert "I&#x27;m not sure this answers it" in rated
    unanswered = page[page.index("Unanswered questions"):page.index("Replies rated 👎")]
    assert "When can annual payments be refunded?" in unanswered
    assert "How do I export a notebook?" in unanswered


def test_the_dashboard_is_off_without_operators_or_a_key(make_engine):
    """Every admin route answers the same 503 page while the dashboard is off, whatever the
    request carries (a cookie, a form): never an error."""
    operator = f"ann:{hash_password('pw-ann', iterations=1000)}"
    for settings in ({}, {"web_operators": (operator,)}, {"web_secret_key": SECRET}):
        engine = make_engine(**settings)
        client = TestClient(build_app(engine, engine.settings),
                            cookies={"qabot_session": "bWU.99999999999.sid.sig",
                                     "qabot_pre": "abc"})
        for method, path in (("GET", "/admin"), ("GET", "/admin/login"),
                             ("POST", "/admin/login"), ("POST", "/admin/logout"),
                             ("POST", "/admin/logout-everywhere"),
                             ("POST", "/admin/release/1"), ("POST", "/admin/rebuild"),
                             ("GET", "/admin/curve.png")):
            off = client.request(method, path, data={"csrf": "x"} if method == "POST" else None,
                                 follow_redirects=False)
            assert off.status_code == 503, (settings, path)
            assert "QABOT_WEB_OPERATORS" in off.text, (settings, path)
            assert off.headers["cache-control"] == "no-store"
        engine.history.close()


def test_signing_out_ends_the_session_on_the_server(admin):
    """The old cookie (say, copied before Sign out) opens nothing afterwards: the session's
    row is gone, although its signature and expiry still hold."""
    engine = admin.engine
    waiting = engine.start("telegram", "79", "Ivy")
    engine.hand_off(waiting, "/human")
    sign_in(admin)
    old = admin.cookies["qabot_session"]
    token = csrf_of(admin.get("/admin").text)
    out = admin.post("/admin/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    replay = browser(admin, qabot_session=old)
    again = replay.get("/admin", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/admin/login"
    assert replay.post(f"/admin/release/{waiting}", data={"csrf": token}).status_code == 403
    assert engine.history.conversation(waiting).status == "handed_off"
    assert replay.post("/admin/rebuild", data={"csrf": token}).status_code == 403
    assert replay.post("/admin/logout-everywhere", data={"csrf": token}).status_code == 403
    assert replay.get("/admin/curve.png").status_code == 404
    # signing out again with the old cookie is harmless: it ends nothing more, and says so
    assert replay.post("/admin/logout", data={"csrf": token},
                       follow_redirects=False).status_code == 303
    sign_in(admin)  # a new sign-in works as before
    assert admin.get("/admin").status_code == 200


def test_signing_out_everywhere_ends_every_session_of_the_operator(admin):
    laptop, phone, other = admin, browser(admin), browser(admin)
    sign_in(laptop)
    sign_in(phone)
    sign_in(other, "bob", "pw-bob")
    page = laptop.get("/admin").text
    assert 'action="/admin/logout-everywhere"' in page
    assert phone.get("/admin").status_code == 200
    assert laptop.post("/admin/logout-everywhere",
                       data={"csrf": "forged"}).status_code == 403  # CSRF holds here too
    assert phone.get("/admin").status_code == 200
    out = laptop.post("/admin/logout-everywhere", data={"csrf": csrf_of(page)},
                      follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    assert "qabot_session=" in out.headers["set-cookie"]  # the cookie is deleted too
    for ended in (laptop, phone):
        assert ended.get("/admin", follow_redirects=False).status_code == 303
    assert other.get("/admin").status_code == 200  # bob's session is his own


def test_an_expired_session_row_is_refused(admin):
    """The database's expiry counts, not only the cookie's (which is signed and still good)."""
    from datetime import timedelta

    from sqlalchemy import text

    sign_in(admin)
    assert admin.get("/admin").status_code == 200
    past = admin.engine.history.clock() - timedelta(minutes=1)
    with admin.engine.history.engine.begin() as c:
        assert c.execute(text("update operator_sessions set expires_at = :t"),
                         {"t": past}).rowcount == 1
    refused = admin.get("/admin", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/admin/login"


def test_release_ids_outside_the_database_range_are_404_pages(admin):
    sign_in(admin)
    token = csrf_of(admin.get("/admin").text)
    for bad in (2**63, 10**30, 0, -1, "abc", "1e3", "\u0663", "1" * 5000):
        out = admin.post(f"/admin/release/{bad}", data={"csrf": token},
                         follow_redirects=False)
        assert out.status_code == 404, bad
        assert "No conversation" in out.text and out.headers["cache-control"] == "no-store"
    largest = admin.post(f"/admin/release/{2**63 - 1}", data={"csrf": token})
    assert largest.status_code == 200 and "is not handed off" in largest.text
    # not signed in: refused before the id is looked at
    assert browser(admin).post(f"/admin/release/{2**63}", data={"csrf": token}
                               ).status_code == 403


def test_a_malformed_session_cookie_is_no_session(admin):
    """A cookie with a non-ASCII byte, or otherwise not one of ours, reads as signed out:
    the sign-in page, or a 403 for a form post, never a 500."""
    sign_in(admin)
    good = admin.cookies["qabot_session"].encode()
    token = csrf_of(admin.get("/admin").text)
    for value in (good[:-1] + "é".encode(), good + b"\xff", "é.é.é.é".encode(), b"....",
                  good.replace(b".", b"\xc3\xa9.", 1), b"x" * 4000):
        page = raw_cookie(admin, value, "/admin")
        assert page.status_code == 303 and page.headers["location"] == "/admin/login"
        for path in ("/admin/release/1", "/admin/rebuild", "/admin/logout",
                     "/admin/logout-everywhere"):
            refused = raw_cookie(admin, value, path, method="POST", data={"csrf": token})
            assert refused.status_code == 403, (value, path)
        assert raw_cookie(admin, value, "/admin/curve.png").status_code == 404
    odd_pre = admin.request("GET", "/admin/login", headers=[(b"cookie", "qabot_pre=é;".encode())])
    assert odd_pre.status_code == 200 and "é" not in odd_pre.headers["set-cookie"]


def test_a_malformed_csrf_value_is_refused_like_a_wrong_one(admin):
    waiting = admin.engine.start("telegram", "80", "Kit")
    admin.engine.hand_off(waiting, "/human")
    login = admin.post("/admin/login", data={"name": "ann", "password": "pw-ann",
                                             "csrf": "é" * 43})
    assert login.status_code == 403
    sign_in(admin)
    token = csrf_of(admin.get("/admin").text)
    for bad in (token[:-1] + "é", "é" * len(token), token + "\u0663"):
        for path in (f"/admin/release/{waiting}", "/admin/rebuild", "/admin/logout",
                     "/admin/logout-everywhere"):
            assert admin.post(path, data={"csrf": bad}).status_code == 403, path
    assert admin.engine.history.conversation(waiting).status == "handed_off"
    assert admin.get("/admin").status_code == 200  # still signed in


def test_the_last_support_evaluation_is_shown_to_operators_only(make_engine, tmp_path):
    import json

    (tmp_path / "curve.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (tmp_path / "summary.json").write_text(json.dumps({"answered_precision": 0.9}))
    engine = make_engine()
    engine.settings = replace(
        engine.settings, web_secret_key=SECRET, web_eval_dir=tmp_path, web_rate_limit=5,
        web_operators=(f"ann:{hash_password('pw-ann', iterations=1000)}",))
    client = TestClient(build_app(engine, engine.settings), base_url="https://testserver")
    assert client.get("/admin/curve.png").status_code == 404  # not signed in
    sign_in(client)
    page = client.get("/admin").text
    assert '<img src="/admin/curve.png"' in page and "answered_precision" in page
    assert client.get("/admin/curve.png").content.startswith(b"\x89PNG")
    for _ in range(5):  # sign-in attempts share the client's rate limit
        sign_in(client, password="guess")
    assert sign_in(client, password="guess").status_code == 429

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
        web_operators=(f"ann:{hash_password('pw-ann', iterations=1000)}",))
    client = TestClient(build_app(engine, engine.settings), base_url="https://testserver")
    client.engine = engine
    return client


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
    engine = make_engine()
    client = TestClient(build_app(engine, engine.settings))
    off = client.get("/admin")
    assert off.status_code == 503 and "QABOT_WEB_OPERATORS" in off.text


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

"""The web channel's HTTP API against the real FastAPI app and the fake-model engine."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from qabot.dialogue.replies import Reply, Source
from qabot.frontends.web import RateLimiter, build_app, reply_json
from tests.fakes import related_confidences

QUESTION = "When can annual payments be refunded?"
BASE = "https://help.example.com/"


@pytest.fixture
def web(make_engine):
    engine = make_engine()

    def client(**settings) -> TestClient:
        engine.settings = replace(engine.settings, **settings)
        return TestClient(build_app(engine, engine.settings))

    client.engine = engine
    return client


def test_chat_answers_with_its_source_and_continues_the_conversation(web):
    api = web()
    first = api.post("/api/v1/chat", json={"user": "u-1", "text": QUESTION})
    assert first.status_code == 200
    body = first.json()
    reply = body["reply"]
    assert reply["kind"] == "answer" and reply["text"].startswith("30 days")
    source = reply["sources"][0]
    assert source["title"] and source["location"].startswith("refunds.md")
    start, end = source["highlight"]
    assert source["snippet"][start:end] == reply["answer"]
    assert "candidate" not in reply  # a withheld answer is never sent to users
    again = api.post("/api/v1/chat", json={"user": "u-1", "text": "thanks!",
                                           "conversation_id": body["conversation_id"]})
    assert again.json()["conversation_id"] == body["conversation_id"]
    other = api.post("/api/v1/chat", json={"user": "u-2", "text": "hello"})
    assert other.json()["conversation_id"] != body["conversation_id"]


def test_a_related_reply_comes_with_its_kind_excerpt_and_urls(make_engine):
    engine = make_engine(confidences=related_confidences(), answer_confidence=None,
                         kb_base_url=BASE)
    api = TestClient(build_app(engine, engine.settings))
    reply = api.post("/api/v1/chat", json={"user": "u-1", "text": QUESTION}).json()["reply"]
    assert reply["kind"] == "related" and reply["answer"] is None  # nothing asserted
    assert reply["text"].startswith("I'm not sure this answers it")
    excerpt, *more = reply["sources"]
    assert excerpt["url"] == f"{BASE}refunds" and excerpt["location"] == "refunds.md"
    start, end = excerpt["highlight"]
    assert excerpt["snippet"][start:end] == "30 days"
    assert [(s["title"], s["url"]) for s in more] == [
        ("Two-factor authentication", f"{BASE}two-factor"), ("Offline", f"{BASE}offline")]
    voted = api.post("/api/v1/feedback", json={"user": "u-1",
                                               "message_id": reply["message_id"],
                                               "helpful": True})
    assert voted.status_code == 200 and engine.stats().feedback_up == 1
    assert engine.stats().related == 1 and engine.stats().unanswered == 1


def test_only_web_urls_reach_the_widget():
    sources = (Source("A", "a.md", "a", url="https://help.example.com/a"),
               Source("B", "b.md", "b", url="javascript:alert(1)"),
               Source("C", "c.md", "c", url="//evil.example/c"), Source("D", "d.md", "d"))
    payload = reply_json(Reply("x", "related", 1, 2, 1, sources=sources))
    assert [s["url"] for s in payload["sources"]] == ["https://help.example.com/a", None,
                                                       None, None]


def test_feedback_is_stored_only_for_the_users_own_reply(web):
    api = web()
    reply = api.post("/api/v1/chat", json={"user": "u-1", "text": QUESTION}).json()["reply"]
    ok = api.post("/api/v1/feedback", json={"user": "u-1", "message_id": reply["message_id"],
                                            "helpful": True})
    assert ok.status_code == 200 and ok.json() == {"ok": True}
    for body in ({"user": "u-2", "message_id": reply["message_id"], "helpful": False},
                 {"user": "u-1", "message_id": reply["user_message_id"], "helpful": False},
                 {"user": "u-1", "message_id": 99999, "helpful": False}):
        refused = api.post("/api/v1/feedback", json=body)
        assert refused.status_code == 404 and "error" in refused.json()
    stats = web.engine.stats()
    assert (stats.feedback_up, stats.feedback_down) == (1, 0)


def test_bad_requests_get_a_json_error_and_store_nothing(web):
    api = web()
    mine = api.post("/api/v1/chat", json={"user": "u-1", "text": "hello"}).json()
    before = web.engine.stats().messages_in
    cases = [
        (b"{not json", 422),
        (b'{"user": "u-1"}', 422),  # no text
        (b'{"user": "u 1", "text": "hi"}', 422),  # not a user id
        (json.dumps({"user": "u-1", "text": "x" * 4001}).encode(), 422),
        (b'{"user": "u-1", "text": ""}', 422),
        (json.dumps({"user": "u-2", "text": "hi",
                     "conversation_id": mine["conversation_id"]}).encode(), 404),  # not theirs
    ]
    for raw, status in cases:
        response = api.post("/api/v1/chat", content=raw,
                            headers={"Content-Type": "application/json"})
        assert response.status_code == status, (raw[:40], response.text)
        assert "error" in response.json()
    problems = api.post("/api/v1/chat", json={"user": "u-1"}).json()["problems"]
    assert [p["field"] for p in problems] == ["text"]
    assert web.engine.stats().messages_in == before


def test_body_size_rate_limit_and_cors(web):
    api = web(web_max_body_bytes=512, web_rate_limit=2,
              web_cors_origins=("https://help.example.com",))
    big = api.post("/api/v1/chat", json={"user": "u-1", "text": "y" * 600},
                   headers={"Origin": "https://help.example.com"})
    assert big.status_code == 413 and "512" in big.json()["error"]
    assert big.headers["access-control-allow-origin"] == "https://help.example.com"
    allowed = api.post("/api/v1/chat", json={"user": "u-1", "text": "hello"},
                       headers={"Origin": "https://help.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://help.example.com"
    foreign = api.post("/api/v1/chat", json={"user": "u-1", "text": "hello"},
                       headers={"Origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in foreign.headers
    limited = api.post("/api/v1/chat", json={"user": "u-1", "text": "hello"},
                       headers={"Origin": "https://help.example.com"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "error" in limited.json()  # and the widget's page may read why
    assert limited.headers["access-control-allow-origin"] == "https://help.example.com"
    assert api.get("/api/v1/openapi.json").status_code == 200  # reading is not limited


def test_the_openapi_schema_describes_both_routes(web):
    schema = web().get("/api/v1/openapi.json").json()
    assert {"/api/v1/chat", "/api/v1/feedback"} <= set(schema["paths"])
    chat = schema["components"]["schemas"]["ChatRequest"]
    assert set(chat["required"]) == {"user", "text"}


def test_the_rate_limiter_slides_over_a_minute():
    limiter = RateLimiter(per_minute=2)
    assert limiter.retry_after("a", now=0.0) == 0
    assert limiter.retry_after("a", now=10.0) == 0
    assert limiter.retry_after("a", now=20.0) == pytest.approx(40.0)
    assert limiter.retry_after("b", now=20.0) == 0  # per client
    assert limiter.retry_after("a", now=60.5) == 0  # the first has left the window


@pytest.mark.slow
@pytest.mark.model
def test_qabot_web_answers_over_http_and_stops_cleanly(tmp_path, example_index_copy):
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from tests.net import listening_socket, port_of, server_fd_args

    sock = listening_socket()  # handed to the server: the port is never free meanwhile
    port, (fd_args, keys) = port_of(sock), server_fd_args(sock)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "qabot.cli", "web", *fd_args,
             "--index", str(example_index_copy), "--db", f"sqlite:///{tmp_path / 'h.sqlite'}"],
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **keys)
    finally:
        sock.close()
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/chat",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"user": "web-1", "text": "Can I pay with PayPal?"}).encode())
        # the request waits in the socket's backlog until the server has loaded its models
        with urllib.request.urlopen(request, timeout=120) as response:
            body = json.loads(response.read())
        assert body["reply"]["kind"] in ("answer", "faq") and "PayPal" in body["reply"]["text"]
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output


def test_the_demo_page_serves_the_widget_and_handoff_reaches_the_history(web):
    api = web()
    page = api.get("/")
    assert page.status_code == 200 and '<script src="/widget.js"' in page.text
    widget = api.get("/widget.js")
    assert widget.headers["content-type"].startswith("text/javascript")
    assert len(widget.content) < 15_000 and "localStorage" in widget.text
    assert "innerHTML" not in widget.text  # texts are inserted as text, never as HTML
    handed = api.post("/api/v1/handoff", json={"user": "u-9", "conversation_id": None})
    assert handed.status_code == 200 and "person" in handed.json()["text"]
    conversation = handed.json()["conversation_id"]
    assert web.engine.history.conversation(conversation).status == "handed_off"
    silent = api.post("/api/v1/chat", json={"user": "u-9", "text": "hello?"}).json()
    assert silent["reply"]["kind"] == "handed_off"  # the bot stays quiet for the person
    assert api.post("/api/v1/handoff", json={"user": "u-8", "conversation_id": conversation}
                    ).status_code == 404


def test_a_body_is_limited_by_the_bytes_received_not_its_content_length(web):
    api = web(web_max_body_bytes=512)
    text = json.dumps({"user": "u-1", "text": "thanks"})[:-1]

    def padded(size: int):  # a streamed body: httpx sends it chunked unless told a length
        yield (text + " " * (size - len(text) - 1) + "}").encode()

    lied = api.post("/api/v1/chat", content=padded(5000),
                    headers={"Content-Type": "application/json", "Content-Length": "100"})
    assert lied.status_code == 413 and "512" in lied.json()["error"]
    assert lied.headers["connection"] == "close"
    chunked = api.post("/api/v1/chat", content=padded(400),
                       headers={"Content-Type": "application/json"})
    assert chunked.status_code == 200, chunked.text  # no Content-Length: counted as it comes


def test_every_route_refuses_a_body_over_the_limit_before_anything_else(web):
    api = web(web_max_body_bytes=512)
    for path in ("/admin/logout", "/admin/release/1", "/admin/rebuild", "/admin/login",
                 "/api/v1/feedback", "/"):
        refused = api.post(path, content=b"a" * 5000,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert refused.status_code == 413, (path, refused.text)
        assert "512" in refused.json()["error"] and refused.headers["connection"] == "close"


@pytest.mark.parametrize("path,field", [("chat", "conversation_id"),
                                        ("feedback", "message_id"),
                                        ("handoff", "conversation_id")])
def test_ids_outside_the_databases_range_are_a_422(web, path, field):
    api = web()
    body = {"user": "u-1", "text": "hi", "helpful": True, field: 1}
    for bad in (2**63, 2**64 + 5, 0, -1):
        refused = api.post(f"/api/v1/{path}", json={**body, field: bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["error"] == "invalid request"
        assert [p["field"] for p in refused.json()["problems"]] == [field]
    largest = api.post(f"/api/v1/{path}", json={**body, field: 2**63 - 1})
    assert largest.status_code == 404  # in range, and no such conversation or reply


def test_a_body_that_is_not_utf8_json_is_a_422_with_the_apis_error_shape(web):
    api = web()
    for raw in (b'{"user": "u-1", "text": "caf\xe9"}', b'{"text": "\xc3("}',
                b"[" * 5000 + b"]" * 5000):  # Latin-1, a broken sequence, too deep
        refused = api.post("/api/v1/chat", content=raw,
                           headers={"Content-Type": "application/json"})
        assert refused.status_code == 422, (raw[:20], refused.text)
        body = refused.json()
        assert body["error"] == "invalid request" and body["problems"][0]["field"] == "body"
        assert "detail" not in body
    assert web.engine.stats().messages_in == 0
    for path, status in (("/api/v1/nothing", 404), ("/api/v1/chat", 405)):
        answer = api.get(path)  # any other error under the API: the same shape
        assert answer.status_code == status and "error" in answer.json(), answer.text

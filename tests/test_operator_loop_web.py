"""The operator loop on the web: a person answers a handed-off user from the dashboard (the
widget reads it from the messages route), and *Answer this* teaches the bot (fake models)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from fastapi.testclient import TestClient

from qabot.app import operator_desk
from qabot.curation import SHEET_NAME, list_answers
from qabot.frontends.web import build_app
from qabot.frontends.web_auth import hash_password
from qabot.history.desk import OperatorDesk
from tests.test_web_admin import SECRET, csrf_of, sign_in

UNKNOWN = "Who is the CEO of the company?"  # nothing in the fake knowledge base answers it


@pytest.fixture
def site(make_engine, kb_index, tmp_path):
    """The web app over an engine whose knowledge base is the conftest one (Answer this
    writes its sheet there), with two operators; ``site.engine``, ``site.desk``."""
    engine = make_engine(
        kb_dir=tmp_path / "kb", index_dir=kb_index, web_secret_key=SECRET,
        web_operators=(f"ann:{hash_password('pw-ann', iterations=1000)}",
                       f"bob:{hash_password('pw-bob', iterations=1000)}"))
    app = build_app(engine, engine.settings)
    client = TestClient(app, base_url="https://testserver")
    client.engine, client.app_, client.desk = engine, app, operator_desk(engine)
    return client


def another_browser(site: TestClient) -> TestClient:
    return TestClient(site.app_, base_url="https://testserver")


def handed_off(site, user: str = "u-1") -> int:
    """A web user who asked something and then for a person."""
    conversation = site.post("/api/v1/chat", json={"user": user, "text": "hello"}).json()[
        "conversation_id"]
    assert site.post("/api/v1/handoff", json={"user": user, "conversation_id": conversation}
                     ).status_code == 200
    return conversation


def messages(site, conversation: int, user: str = "u-1", after: int = 0):
    return site.get(f"/api/v1/conversations/{conversation}/messages",
                    params={"user": user, "after": after})


def reply_form(site, conversation: int) -> dict:
    page = site.get(f"/admin/conversations/{conversation}").text
    seen = re.search(r'name="seen" value="(\d+)"', page).group(1)
    return {"csrf": csrf_of(page), "seen": seen}


def notice_of(response) -> str:
    query = parse_qs(urlparse(response.headers["location"]).query)
    return unquote(query["notice"][0])


# --------------------------------------------------------------------------- messages route


def test_the_messages_route_gives_the_user_their_conversation_after_an_id(site):
    conversation = handed_off(site)
    site.desk.reply(conversation, "Hi, I'm looking at it now.", "Ann Lee")
    first = messages(site, conversation)
    assert first.status_code == 200 and first.json()["handed_off"] is True
    rows = first.json()["messages"]
    assert [(m["from"], m["kind"]) for m in rows] == [
        ("user", "template"), ("bot", "template"), ("user", "handoff"), ("bot", "handoff"),
        ("operator", "operator")]
    assert rows[-1]["text"] == "Hi, I'm looking at it now."
    assert rows[-1]["author"] == "Ann"  # the first name only, never the account
    assert rows[0]["author"] is None and rows[0]["created_at"].startswith("20")
    assert [m["id"] for m in rows] == sorted(m["id"] for m in rows)
    later = messages(site, conversation, after=rows[3]["id"]).json()["messages"]
    assert [m["id"] for m in later] == [rows[4]["id"]]
    assert messages(site, conversation, after=rows[4]["id"]).json()["messages"] == []


def test_only_the_conversations_own_user_may_read_it(site):
    conversation = handed_off(site)
    handed_off(site, "u-2")
    for user, ident in (("u-2", conversation), ("u-1", conversation + 1000),
                        ("u-1", 2**63 - 1), ("u-1", 2**63)):
        answer = messages(site, ident, user=user)
        assert answer.status_code == 404, (user, ident)
        assert answer.json() == {"error": f"no conversation {ident} of this user"}
    site.engine.start("telegram", "u-1")  # the same id on another channel is another user
    assert messages(site, conversation, user="u-1").status_code == 200
    for params in ({"user": "u 1"}, {"user": "u-1", "after": -1}, {}):
        bad = site.get(f"/api/v1/conversations/{conversation}/messages", params=params)
        assert bad.status_code == 422 and bad.json()["error"] == "invalid request"


def test_the_messages_route_pages_by_a_hundred(site):
    conversation = handed_off(site)
    for i in range(120):
        site.desk.reply(conversation, f"line {i}", "ann")
    page = messages(site, conversation).json()["messages"]
    assert len(page) == 100
    rest = messages(site, conversation, after=page[-1]["id"]).json()["messages"]
    assert [m["text"] for m in rest] == [f"line {i}" for i in range(96, 120)]  # 4 before


# --------------------------------------------------------------------------- dashboard reply


def test_an_operator_replies_from_the_conversation_page_and_the_widget_reads_it(site):
    conversation = handed_off(site)
    site.post("/api/v1/chat", json={"user": "u-1", "text": "My <b>invoice</b> is wrong",
                                    "conversation_id": conversation})
    sign_in(site)
    dashboard = site.get("/admin").text
    assert f'href="/admin/conversations/{conversation}"' in dashboard
    page = site.get(f"/admin/conversations/{conversation}").text
    assert "My &lt;b&gt;invoice&lt;/b&gt; is wrong" in page and "<b>invoice" not in page
    assert "waiting for a person" in page and "Release to the bot" in page
    form = reply_form(site, conversation)
    sent = site.post(f"/admin/conversations/{conversation}/reply",
                     data={**form, "text": "Sorry! <i>Fixed</i> it."}, follow_redirects=False)
    assert sent.status_code == 303 and notice_of(sent) == "Sent."
    assert sent.headers["location"].startswith(f"/admin/conversations/{conversation}?")
    stored = site.engine.transcript(conversation)[-1]
    assert (stored.direction, stored.kind, stored.author, stored.text) == (
        "out", "operator", "ann", "Sorry! <i>Fixed</i> it.")
    shown = site.get(sent.headers["location"]).text
    assert "ann (operator)" in shown and "&lt;i&gt;Fixed&lt;/i&gt;" in shown
    widget = messages(site, conversation).json()["messages"][-1]
    assert (widget["from"], widget["author"], widget["text"]) == (
        "operator", "ann", "Sorry! <i>Fixed</i> it.")


def test_the_reply_needs_the_session_and_its_csrf_token(site):
    conversation = handed_off(site)
    before = len(site.engine.transcript(conversation))
    url = f"/admin/conversations/{conversation}/reply"
    assert site.post(url, data={"text": "hi", "csrf": "x"}).status_code == 403  # signed out
    assert site.get(f"/admin/conversations/{conversation}", follow_redirects=False
                    ).headers["location"] == "/admin/login"
    sign_in(site)
    assert site.post(url, data={"text": "hi"}).status_code == 403
    assert site.post(url, data={"text": "hi", "csrf": "forged"}).status_code == 403
    assert len(site.engine.transcript(conversation)) == before


def test_two_operators_both_reply_in_order_and_each_sees_the_other(site):
    conversation = handed_off(site)
    sign_in(site)
    bob = another_browser(site)
    sign_in(bob, "bob", "pw-bob")
    ann_form, bob_form = reply_form(site, conversation), reply_form(bob, conversation)
    url = f"/admin/conversations/{conversation}/reply"
    first = site.post(url, data={**ann_form, "text": "Ann here."}, follow_redirects=False)
    assert notice_of(first) == "Sent."
    second = bob.post(url, data={**bob_form, "text": "Bob here."}, follow_redirects=False)
    assert notice_of(second) == "Sent. Also replied since you loaded this page: ann."
    rows = [m for m in messages(site, conversation).json()["messages"]
            if m["from"] == "operator"]
    assert [(m["author"], m["text"]) for m in rows] == [("ann", "Ann here."),
                                                        ("bob", "Bob here.")]
    page = bob.get(second.headers["location"]).text
    assert page.count("class=new") == 2  # both replies are new since Bob loaded the page


@pytest.mark.parametrize("text, why", [
    ("   ", "the reply is empty"),
    ("x" * 4001, "the reply has 4,001 characters; at most 4,000 are sent"),
])
def test_a_bad_reply_is_refused_and_stores_nothing(site, text, why):
    conversation = handed_off(site)
    sign_in(site)
    before = site.engine.transcript(conversation)
    refused = site.post(f"/admin/conversations/{conversation}/reply",
                        data={**reply_form(site, conversation), "text": text},
                        follow_redirects=False)
    assert notice_of(refused) == f"Not sent: {why}."
    assert site.engine.transcript(conversation) == before


def test_a_released_conversation_takes_no_reply_and_the_user_sees_the_release(site):
    conversation = handed_off(site)
    sign_in(site)
    form = reply_form(site, conversation)
    released = site.post(f"/admin/release/{conversation}", data={"csrf": form["csrf"]},
                         follow_redirects=False)
    assert notice_of(released) == f"Conversation {conversation} is back with the bot."
    body = messages(site, conversation).json()
    assert body["handed_off"] is False
    assert (body["messages"][-1]["from"], body["messages"][-1]["kind"]) == ("bot", "released")
    assert body["messages"][-1]["text"] == "You're talking to the bot again. Ask me anything!"
    again = site.post(f"/admin/release/{conversation}", data={"csrf": form["csrf"]},
                      follow_redirects=False)
    assert notice_of(again) == f"Conversation {conversation} is not handed off."
    late = site.post(f"/admin/conversations/{conversation}/reply",
                     data={**form, "text": "still there?"}, follow_redirects=False)
    assert notice_of(late).startswith(f"Not sent: conversation {conversation} does not wait "
                                      "for a person")
    assert [m["kind"] for m in messages(site, conversation).json()["messages"]].count(
        "released") == 1


def test_a_missing_or_malformed_conversation_is_the_dashboards_404(site):
    sign_in(site)
    token = csrf_of(site.get("/admin").text)
    for ident in ("999999", "0", "abc", "9" * 30):
        assert site.get(f"/admin/conversations/{ident}").status_code == 404
        assert site.post(f"/admin/conversations/{ident}/reply",
                         data={"csrf": token, "text": "hi"}).status_code == 404


def test_the_desk_journals_a_delivery_only_for_pushed_channels(site):
    web = handed_off(site)
    telegram = site.engine.start("telegram", "4242", "Tom")
    site.engine.hand_off(telegram, "/human")
    desk = OperatorDesk(site.engine.history.engine, ("telegram",))
    desk.reply(web, "to the widget", "ann")
    desk.reply(telegram, "to the chat", "ann")
    desk.release(telegram, "web:ann", "back")
    outbox = site.engine.history.inbox("telegram:out")
    claimed = outbox.claim("test", 10, 5.0)
    assert [(c.chat, c.payload.count("to the chat")) for c in claimed] == [("4242", 1)]
    outbox.finish("test", claimed[0].id)
    assert [c.payload.count('"kind": "released"') for c in outbox.claim("test", 10, 5.0)] == [1]
    assert site.engine.history.inbox("web:out").counts().pending == 0


# --------------------------------------------------------------------------- Answer this


def unanswered_group(site) -> None:
    conversation = site.engine.start("web", "v-1", "Vera")
    for text in (UNKNOWN, "who is the company's CEO?"):
        site.engine.respond(conversation, text)
    assert len(site.engine.unanswered()) == 2


def test_answer_this_teaches_the_bot_and_the_group_leaves_the_list(site):
    unanswered_group(site)
    sign_in(site)
    dashboard = site.get("/admin").text
    section = dashboard[dashboard.index("Unanswered questions"):dashboard.index("Replies rated")]
    link = re.search(r'href="(/admin/answer\?[^"]+)">Answer this', section).group(1)
    form = site.get(link.replace("&amp;", "&")).text
    assert 'name="question" size="80" required value="who is the company&#x27;s CEO?"' in form
    assert "Who is the CEO of the company?</textarea>" in form  # the other phrasing
    saved = site.post("/admin/answer", data={
        "csrf": csrf_of(form), "question": "who is the company's CEO?",
        "answer": "Our CEO is Dana Smith.", "also": UNKNOWN + "\r\n\r\n",
        "category": "company"}, follow_redirects=False)
    assert saved.status_code == 303
    assert notice_of(saved).startswith("Saved 2 question(s) to operator-answers.csv; 2 "
                                       "unanswered question(s) answered. Reindexed: 1 files "
                                       "added")
    rows = list_answers(site.engine.settings.kb_dir)
    assert [(r.question, r.answer, r.category, r.author) for r in rows] == [
        ("who is the company's CEO?", "Our CEO is Dana Smith.", "company", "ann"),
        (UNKNOWN, "Our CEO is Dana Smith.", "company", "ann")]
    assert site.engine.unanswered() == []
    after = site.get("/admin").text
    assert "None." in after[after.index("Unanswered questions"):after.index("Replies rated")]
    chat = site.post("/api/v1/chat", json={"user": "new-user", "text": UNKNOWN}).json()
    assert (chat["reply"]["kind"], chat["reply"]["text"]) == ("faq", "Our CEO is Dana Smith.")
    assert chat["reply"]["sources"][0]["source"] == SHEET_NAME


@pytest.mark.parametrize("fields, why", [
    ({"answer": " "}, "the answer is empty"),
    ({"question": ""}, "the question is empty"),
    ({"answer": "y" * 4001}, "the answer has 4,001 characters"),
])
def test_a_bad_answer_shows_the_form_again_and_saves_nothing(site, fields, why):
    sign_in(site)
    token = csrf_of(site.get("/admin/answer?q=x").text)
    data = {"csrf": token, "question": "Where is <b>x</b>?", "answer": "There.", **fields}
    page = site.post("/admin/answer", data=data)
    assert page.status_code == 400 and f"Not saved: {why}" in page.text
    if fields.get("question") != "":
        assert "Where is &lt;b&gt;x&lt;/b&gt;?" in page.text  # kept, escaped
    assert not (site.engine.settings.kb_dir / SHEET_NAME).exists()


def test_answer_this_needs_the_session_and_its_csrf_token(site):
    data = {"question": "Q?", "answer": "A."}
    assert site.post("/admin/answer", data={**data, "csrf": "x"}).status_code == 403
    assert site.get("/admin/answer?q=Q", follow_redirects=False).status_code == 303
    sign_in(site)
    assert site.post("/admin/answer", data=data).status_code == 403
    assert site.post("/admin/answer", data={**data, "csrf": "forged"}).status_code == 403
    assert not (site.engine.settings.kb_dir / SHEET_NAME).exists()


def test_a_rated_down_reply_offers_answer_this(site):
    conversation = site.engine.start("web", "v-2")
    reply = site.engine.respond(conversation, "When can annual payments be refunded?")
    site.engine.feedback(reply.message_id, helpful=False)
    sign_in(site)
    page = site.get("/admin").text
    rated = page[page.index("Replies rated 👎"):page.index("Waiting for a person")]
    assert ('href="/admin/answer?q=When+can+annual+payments+be+refunded%3F">Answer this'
            in rated)


# --------------------------------------------------------------------------- activity


def test_the_operators_panel_counts_waits_replies_answers_and_their_uses(site):
    first, second = handed_off(site, "u-1"), handed_off(site, "u-2")
    site.desk.reply(first, "one", "ann")
    site.desk.reply(first, "two", "ann")
    site.desk.reply(second, "three", "bob")
    site.desk.release(second, "web:bob", "back")
    unanswered_group(site)
    sign_in(site)
    token = csrf_of(site.get("/admin").text)
    site.post("/admin/answer", data={"csrf": token, "question": UNKNOWN,
                                     "answer": "Our CEO is Dana Smith."})
    for user in ("w-1", "w-2"):
        site.post("/api/v1/chat", json={"user": user, "text": UNKNOWN})
    page = site.get("/admin").text
    panel = page[page.index("<h2>Operators"):]
    assert "1 conversation(s) waiting for a person, the oldest for 0 minutes." in panel
    assert "Replies in the last 30 days: ann 2, bob 1." in panel
    assert "Answers added in the last 30 days: 1." in panel
    assert re.search(r"<td>ann</td><td>Who is the CEO of the company\?</td><td>2</td>", panel)


# --------------------------------------------------------------------------- protections

EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)>'


def filled(site) -> int:
    """A handed-off conversation with hostile text from the user and an operator, an
    unanswered group and a 👎 reply holding it, and an operator answer whose question holds
    it too: every page the operator loop has shows something someone typed."""
    conversation = site.engine.start("web", "evil-user", f"Eve {EVIL}")
    reply = site.engine.respond(conversation, f"When can annual payments be refunded? {EVIL}")
    site.engine.feedback(reply.message_id, helpful=False)
    site.engine.respond(conversation, f"Who is the CEO of the company? {EVIL}")
    site.engine.hand_off(conversation, EVIL)
    site.desk.reply(conversation, f"operator says {EVIL}", "ann")
    return conversation


def test_every_operator_loop_form_carries_its_csrf_token_and_refuses_without_it(site):
    conversation = filled(site)
    sign_in(site)
    bob = another_browser(site)
    sign_in(bob, "bob", "pw-bob")
    pages = ["/admin", f"/admin/conversations/{conversation}", "/admin/answer?q=Q&also=R"]
    forms = {}
    for path in pages:
        page = site.get(path).text
        for form in re.findall(r'<form[^>]*method="post"[^>]*>.*?</form>', page, re.S):
            action = re.search(r'action="([^"]+)"', form).group(1)
            assert 'name="csrf"' in form, (path, action)
            fields = dict(re.findall(r'name="(\w+)"(?: [^>]*?)?(?: value="([^"]*)")?', form))
            forms[action] = {**fields, "text": "hi", "question": "Q?", "answer": "A."}
    assert {f"/admin/conversations/{conversation}/reply", f"/admin/release/{conversation}",
            "/admin/answer", "/admin/rebuild", "/admin/logout",
            "/admin/logout-everywhere"} <= forms.keys()
    before = (site.engine.transcript(conversation), site.engine.handed_off(conversation))
    bobs = csrf_of(bob.get("/admin").text)
    for action, fields in forms.items():
        for token in (None, "forged", bobs):  # none, a made-up one, another session's
            data = {k: v for k, v in fields.items() if k != "csrf"}
            if token is not None:
                data["csrf"] = token
            refused = site.post(action, data=data, follow_redirects=False)
            assert refused.status_code == 403, (action, token)
        signed_out = another_browser(site).post(action, data=fields, follow_redirects=False)
        assert signed_out.status_code == 403, action
    assert (site.engine.transcript(conversation), site.engine.handed_off(conversation)) == before
    assert not (site.engine.settings.kb_dir / SHEET_NAME).exists()
    assert site.get("/admin").status_code == 200  # still signed in: nothing was done


def test_what_users_and_operators_typed_is_escaped_on_every_page(site):
    conversation = filled(site)
    sign_in(site)
    token = csrf_of(site.get("/admin").text)
    site.post("/admin/answer", data={"csrf": token, "question": f"Q {EVIL}?",
                                     "answer": f"A {EVIL}", "also": f"R {EVIL}?"})
    bad = site.post("/admin/answer", data={"csrf": token, "question": f"Q2 {EVIL}",
                                           "answer": " ", "also": EVIL})
    pages = [site.get("/admin").text, site.get(f"/admin/conversations/{conversation}").text,
             site.get("/admin/answer", params={"q": EVIL, "also": EVIL}).text, bad.text]
    for page in pages:
        assert "<script" not in page and "<img" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    dashboard, conversation_page = pages[0], pages[1]
    assert "Q &lt;script&gt;" in dashboard[dashboard.index("<h2>Operators"):]  # the panel
    assert "operator says &lt;script&gt;" in conversation_page


def test_sign_in_attempts_are_rate_limited(site):
    from dataclasses import replace

    settings = replace(site.engine.settings, web_rate_limit=3)
    client = TestClient(build_app(site.engine, settings), base_url="https://testserver")
    answers = [sign_in(client, password="wrong").status_code for _ in range(4)]
    assert answers[:3] == [401, 401, 401] and answers[3] == 429
    limited = client.post("/admin/login", data={"name": "ann", "password": "pw-ann"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_the_widgets_request_for_a_person_is_in_the_operators_transcript(site):
    conversation = handed_off(site)
    kinds = [(m.direction, m.kind, m.text) for m in site.engine.transcript(conversation)][-2:]
    assert kinds == [("in", "handoff", "Talk to a person"),
                     ("out", "handoff", "I've asked a person from our support team to take "
                                        "over. They'll reply here.")]
    assert site.engine.handed_off(conversation)
    sign_in(site)
    page = site.get(f"/admin/conversations/{conversation}").text
    assert "Talk to a person" in page and "bot (handoff)" in page

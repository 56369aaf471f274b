"""A handed-off conversation no one from the team answers goes back to the bot, with a line
saying so, on every channel; `qabot ask` starts a new conversation; `qabot chat` says when it
resumes a handed-off one. Time is an injected clock: nothing sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from qabot import cli
from qabot.dialogue.handoff import RELEASED_BY, back_notice, duration, timed_out
from qabot.dialogue.replies import Reply, Source
from qabot.frontends import console
from qabot.frontends import telegram as tg
from qabot.frontends.web import build_app
from qabot.history import History
from tests.fakes import related_confidences
from tests.test_console import _script

QUESTION = "When can annual payments be refunded?"
NOTICE = ("No one from the support team has replied for 60 minutes, so I'm back to answer "
          "your questions. If you still need a person, ask for one again.")


class Clock:
    """A clock the test moves: timezone-aware UTC, as the wall clock is."""

    def __init__(self):
        self.now = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


def clocked(engine) -> Clock:
    """One test clock for the engine (what the wait is measured against) and its history
    (what handoffs and messages are stamped with)."""
    clock = Clock()
    engine.clock = clock
    engine.history.clock = clock
    return clock


def handed_off(engine, user: str) -> int:
    conversation = engine.start("console", user)
    engine.hand_off(conversation, reason="/human")
    return conversation


def test_the_notice_wording():
    assert back_notice(60) == NOTICE
    assert [duration(m) for m in (1, 0.5, 60, 90, 120, 1440)] == [
        "1 minute", "0.5 minutes", "60 minutes", "90 minutes", "2 hours", "24 hours"]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    assert not timed_out(None, start + timedelta(days=9), 60)  # no open handoff
    assert not timed_out(start, start + timedelta(minutes=59.9), 60)
    assert timed_out(start, start + timedelta(minutes=60), 60)


def test_before_the_timeout_the_bot_stays_quiet_after_it_answers_with_the_line(make_engine):
    engine = make_engine()
    clock = clocked(engine)
    conversation = handed_off(engine, "ann")
    clock.advance(59)
    quiet = engine.respond(conversation, QUESTION)
    assert quiet.silent and quiet.text == "" and quiet.notice is None
    assert engine.handed_off(conversation)

    clock.advance(2)  # 61 minutes, and no one from the team wrote
    back = engine.respond(conversation, QUESTION)
    assert back.kind == "answer" and back.notice == NOTICE
    assert back.text == f"{NOTICE}\n\n{back.body}" and back.body.startswith("30 days")
    assert not engine.handed_off(conversation)
    assert engine.history.reports().open_handoffs() == []  # off the operators' queue
    assert engine.message(back.message_id).text == back.text  # stored as the user read it
    again = engine.respond(conversation, QUESTION)  # said once
    assert again.kind == "answer" and again.notice is None and again.text.startswith("30 days")


def test_an_operator_reply_restarts_the_wait(make_engine):
    engine = make_engine(handoff_timeout_minutes=30)
    clock = clocked(engine)
    conversation = handed_off(engine, "bo")
    clock.advance(20)
    engine.history.add_message(conversation, "out", "Hi, Sam from support here. Looking now.",
                               kind="operator")
    clock.advance(25)  # 45 minutes after the handoff, 25 after the operator's reply
    assert engine.respond(conversation, "any news?").silent
    clock.advance(5)  # 30 minutes since the operator's reply
    back = engine.respond(conversation, QUESTION)
    assert back.notice == back_notice(30) and "for 30 minutes" in back.text
    assert back.body.startswith("30 days")


def test_a_new_handoff_waits_afresh(make_engine):
    """After a release (here the timeout's), a later handoff is timed from its own request."""
    engine = make_engine()
    clock = clocked(engine)
    conversation = handed_off(engine, "cy")
    clock.advance(90)
    assert engine.respond(conversation, QUESTION).notice == NOTICE
    engine.hand_off(conversation)
    clock.advance(10)
    assert engine.respond(conversation, QUESTION).silent


def test_a_reply_sent_again_after_a_crash_keeps_its_line(make_engine):
    engine = make_engine(confidences=related_confidences(), answer_confidence=None)
    conversation = _timed_out(engine, "col")
    first = engine.respond(conversation, QUESTION, update_key="telegram:77")
    again = engine.respond(conversation, QUESTION, update_key="telegram:77")  # not recomputed
    assert (again.message_id, again.text, again.notice) == (first.message_id, first.text, NOTICE)
    assert tg.reply_text(again) == tg.reply_text(first)


def test_an_operator_release_is_not_announced_again(make_engine):
    engine = make_engine()
    clock = clocked(engine)
    conversation = handed_off(engine, "di")
    assert engine.release(conversation, "web:olga")
    clock.advance(600)
    reply = engine.respond(conversation, QUESTION)
    assert reply.notice is None and reply.text.startswith("30 days")


def test_idle_since_is_the_latest_of_the_handoff_and_operator_replies(history_url):
    clock = Clock()
    history = History.open(history_url, clock=clock)
    try:
        conversation = history.current_conversation(history.user_id("console", "ed")).id
        assert history.handoff_idle_since(conversation) is None  # not handed off
        history.add_message(conversation, "out", "an old note", kind="operator")
        clock.advance(5)
        history.open_handoff(conversation, "/human")
        handed = clock.now
        assert history.handoff_idle_since(conversation) == handed  # the older note is before
        clock.advance(7)
        history.add_message(conversation, "in", "hello?")  # the user's messages do not count
        assert history.handoff_idle_since(conversation) == handed
        history.add_message(conversation, "out", "On it.", kind="operator")
        replied = history.handoff_idle_since(conversation)
        assert replied == clock.now and replied.tzinfo is not None
        assert history.release(conversation, RELEASED_BY)
        assert history.handoff_idle_since(conversation) is None
    finally:
        history.close()


# ---------------------------------------------------------------- every channel shows the line


def _timed_out(engine, user: str) -> int:
    clock = clocked(engine)
    conversation = handed_off(engine, user)
    clock.advance(61)
    return conversation


def test_the_console_shows_the_line_first(make_engine):
    engine = make_engine()
    conversation = _timed_out(engine, "fay")
    shown = console.format_reply(engine.respond(conversation, QUESTION))
    assert shown.startswith(NOTICE + "\n\n30 days") and "[1] refunds.md" in shown


def test_a_related_reply_shows_the_line_before_its_label(make_engine):
    engine = make_engine(confidences=related_confidences(), answer_confidence=None)
    conversation = _timed_out(engine, "gus")
    reply = engine.respond(conversation, QUESTION)
    assert reply.kind == "related" and reply.notice == NOTICE
    shown = console.format_reply(reply)
    assert shown.splitlines()[:3] == [NOTICE, "Related (not certain):",
                                      "I'm not sure this answers it, but this part of the help "
                                      "centre looks related:"]
    assert "«30 days»" in shown and shown.count(NOTICE) == 1
    text = tg.reply_text(reply)
    assert text.startswith(f"{NOTICE}\n\n💡 Related (not certain):\n\nI'm not sure")


def test_telegram_sends_the_line_first():
    reply = Reply(f"{NOTICE}\n\n30 days after the charge.", "answer", 1, 5, 4, notice=NOTICE,
                  sources=(Source("Refunds", "refunds.md", "30 days after the charge."),))
    assert tg.reply_text(reply).startswith(NOTICE + "\n\n30 days")


def test_the_web_api_sends_the_line_in_the_text_and_apart(make_engine):
    engine = make_engine()
    clock = clocked(engine)
    api = TestClient(build_app(engine, engine.settings))
    asked = api.post("/api/v1/handoff", json={"user": "w-1"}).json()
    conversation = asked["conversation_id"]
    quiet = api.post("/api/v1/chat", json={"user": "w-1", "text": QUESTION,
                                           "conversation_id": conversation}).json()["reply"]
    assert quiet["kind"] == "handed_off" and quiet["notice"] is None
    clock.advance(60)
    reply = api.post("/api/v1/chat", json={"user": "w-1", "text": QUESTION,
                                           "conversation_id": conversation}).json()["reply"]
    assert reply["kind"] == "answer" and reply["notice"] == NOTICE
    assert reply["text"].startswith(NOTICE + "\n\n30 days") and reply["answer"] == "30 days"


# ---------------------------------------------------------------- qabot ask, qabot chat


@pytest.fixture
def cli_engine(make_engine, monkeypatch):
    """The engine `qabot chat` and `qabot ask` build, with the fake models."""
    engine = make_engine()
    monkeypatch.setattr("qabot.app.build_engine", lambda settings, warm=False: engine)
    return engine


def test_ask_after_a_handoff_gets_an_answer(cli_engine, capsys):
    conversation = handed_off(cli_engine, "quinn")
    assert cli.main(["ask", QUESTION, "--user", "quinn"]) == 0
    assert capsys.readouterr().out.startswith("30 days")  # a new conversation, answered
    assert cli_engine.handed_off(conversation)  # the person still sees the handed-off one
    assert cli.main(["ask", "anyone there?", "--user", "quinn",
                     "--conversation", str(conversation)]) == 0
    assert "the bot stays quiet" in capsys.readouterr().out  # going on with it, on purpose


def test_ask_starts_a_new_conversation_each_time(cli_engine, capsys):
    assert cli.main(["ask", QUESTION, "--user", "rae", "--json"]) == 0
    assert cli.main(["ask", QUESTION, "--user", "rae", "--json"]) == 0
    first, second = _json_objects(capsys)
    assert first["conversation_id"] != second["conversation_id"]
    assert cli.main(["ask", "thanks!", "--user", "rae", "--json",
                     "--conversation", str(second["conversation_id"])]) == 0
    (third,) = _json_objects(capsys)
    assert third["conversation_id"] == second["conversation_id"]


def test_ask_refuses_a_conversation_that_is_not_the_users(cli_engine, capsys):
    theirs = cli_engine.start("console", "sol")
    assert cli.main(["ask", QUESTION, "--user", "tam", "--conversation", str(theirs)]) == 1
    assert f"no console conversation {theirs} of user 'tam'" in capsys.readouterr().err
    assert cli.main(["ask", QUESTION, "--user", "tam", "--conversation", "999"]) == 1


def _json_objects(capsys) -> list[dict]:
    import json

    out, decoder, found, at = capsys.readouterr().out, json.JSONDecoder(), [], 0
    while at < len(out.rstrip()):
        obj, at = decoder.raw_decode(out, at)
        found.append(obj)
        while at < len(out) and out[at].isspace():
            at += 1
    return found


def test_chat_says_when_it_resumes_a_handed_off_conversation(make_engine):
    engine = make_engine()
    handed_off(engine, "uma")
    out: list[str] = []
    console.chat(engine, "uma", write=out.append, read=_script(["/reset", QUESTION]))
    assert out[1] == console.RESUMED_HANDOFF and "/reset" in out[1]
    assert out[2].startswith("bot> New conversation")
    assert out[3].startswith("bot> 30 days")  # the bot answers in the new one


def test_chat_says_nothing_more_in_an_open_conversation(make_engine):
    out: list[str] = []
    console.chat(make_engine(), "vic", write=out.append, read=lambda prompt: "/quit")
    assert len(out) == 1 and out[0].startswith("qabot: chatting as 'vic'")

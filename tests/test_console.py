"""The console front end and the chat/history/export commands of the CLI."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from qabot import cli
from qabot.cli import history as history_cli
from qabot.dialogue.replies import Reply, Source
from qabot.frontends import console
from qabot.history import History
from tests.fakes import related_confidences

BASE = "https://help.example.com/"


def _script(lines):
    it = iter(lines)

    def read(prompt: str) -> str:
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None
    return read


def test_chat_loop_commands_and_history(make_engine):
    engine = make_engine()
    out: list[str] = []
    code = console.chat(engine, "zoe", write=out.append, read=_script([
        "/help", "hello", "/good", "When can annual payments be refunded?", "/good",
        "/reset", "/human", "anything?", "/quit", "never read"]))
    text = "\n".join(out)
    assert code == 0
    assert "/reset" in out[1]  # the help text
    assert "There is no answer to rate yet." in text  # a greeting is not rated
    assert "30 days" in text and "[1] refunds.md: " in text and "«30 days»" in text
    assert "Thanks for the feedback!" in text
    assert "New conversation" in text and "a person from our support team" in text
    assert "the bot stays quiet" in text
    assert engine.history.stats().feedback_up == 1
    (rated,) = engine.history.rated_answers()
    assert rated.answer.text.startswith("30 days")


def test_forget_deletes_my_history(make_engine):
    engine = make_engine()
    out: list[str] = []
    console.chat(engine, "una", write=out.append,
                 read=_script(["hello", "When can annual payments be refunded?", "/forget"]))
    assert out[-2] == "bot> Your conversation history has been deleted."
    stats = engine.history.stats()
    assert (stats.messages_in, stats.conversations) == (0, 1)  # only the fresh, empty one


def test_chat_ends_cleanly_at_end_of_input(make_engine):
    out: list[str] = []
    assert console.chat(make_engine(), "yan", write=out.append, read=_script(["bye"])) == 0
    assert out[-1] == ""


def test_ask_json(make_engine):
    out: list[str] = []
    console.ask(make_engine(), "Can I pay with PayPal?", "xi", as_json=True, write=out.append)
    reply = json.loads(out[0])
    assert reply["kind"] == "faq" and reply["answer"] == "Yes. We accept PayPal and cards."
    assert reply["sources"][0]["source"] == "faq.csv"


@pytest.fixture
def filled_db(tmp_path, make_engine):
    engine = make_engine()
    conv = engine.start("console", "wes")
    answer = engine.respond(conv, "When can annual payments be refunded?")
    engine.feedback(answer.message_id, helpful=True)
    engine.respond(conv, "Who founded the company originally?")  # unanswered
    return f"sqlite:///{tmp_path / 'history.sqlite'}"


def test_history_and_export_commands(filled_db, tmp_path, capsys):
    assert cli.main(["history", "stats", "--json", "--db", filled_db]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["answered"], stats["unanswered"], stats["feedback_up"]) == (1, 1, 1)
    assert stats["answer_rate"] == 0.5
    assert cli.main(["history", "unanswered", "--db", filled_db]) == 0
    assert "Who founded the company originally?" in capsys.readouterr().out
    out = tmp_path / "out" / "feedback.json"
    assert cli.main(["export", "feedback", "--format", "squad", "--out", str(out),
                     "--unanswered", str(tmp_path / "u.csv"), "--db", filled_db]) == 0
    printed = capsys.readouterr().out
    assert "wrote 1 questions" in printed and "wrote 1 unanswered" in printed
    qa = json.loads(out.read_text())["data"][0]["paragraphs"][0]["qas"][0]
    assert qa["answers"][0]["text"] == "30 days"
    assert cli.main(["history", "purge", "--older-than", "30d", "--db", filled_db]) == 0
    assert "deleted 0 conversations" in capsys.readouterr().out
    assert cli.main(["history", "forget", "--user", "wes", "--db", filled_db]) == 0
    assert "deleted user console:wes and 1 conversations" in capsys.readouterr().out
    assert History.open(filled_db).stats().conversations == 0


def test_cli_errors(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["history", "purge", "--older-than", "soon"])
    assert exit_info.value.code == 2
    assert "expected an age such as 90d" in capsys.readouterr().err
    monkeypatch.setenv("QABOT_TOP_K", "lots")
    assert cli.main(["ask", "hi", "--index", str(tmp_path)]) == 1
    assert "QABOT_TOP_K: expected int, got 'lots'" in capsys.readouterr().err
    monkeypatch.delenv("QABOT_TOP_K")
    assert cli.main(["ask", "hi", "--index", str(tmp_path / "none")]) == 1
    assert "no index at" in capsys.readouterr().err


def test_parse_age():
    assert history_cli.parse_age("90d") == timedelta(days=90)
    assert history_cli.parse_age(" 2w ") == timedelta(weeks=2)
    assert history_cli.parse_age("12h") == timedelta(hours=12)


def related_engine(make_engine):
    """Every candidate answer is a related reply; articles link under ``BASE``."""
    return make_engine(confidences=related_confidences(), answer_confidence=None,
                       kb_base_url=BASE)


def test_a_related_reply_is_shown_as_a_suggestion_with_its_links(make_engine):
    engine = related_engine(make_engine)
    out: list[str] = []
    console.chat(engine, "ria", write=out.append, read=_script([
        "When can annual payments be refunded?", "/bad", "yes"]))
    related, rated, handed = out[1:4]
    lines = related.splitlines()
    assert lines[0] == "bot> Related (not certain):"  # a suggestion, not an answer
    assert lines[1].startswith("I'm not sure this answers it")
    assert "“Annual payments can be refunded within «30 days» of the charge." in related
    assert f"Source: refunds.md — {BASE}refunds" in related
    assert f"See also: Two-factor authentication — {BASE}two-factor" in related
    assert rated == "bot> Thanks for the feedback!"  # a related reply is rated like any
    assert "connecting you with a person" in handed  # "yes" takes the offer of a person
    assert engine.history.stats().feedback_down == 1
    (down,) = engine.history.rated_answers(-1)
    assert down.answer.kind == "related"


def test_ask_prints_the_related_label_and_json_keeps_the_kind_and_urls(make_engine):
    engine = related_engine(make_engine)
    out: list[str] = []
    console.ask(engine, "When can annual payments be refunded?", "rex", write=out.append)
    assert out[0].startswith("Related (not certain):\n") and "«30 days»" in out[0]
    console.ask(engine, "When can annual payments be refunded?", "rex", as_json=True,
                write=out.append)
    reply = json.loads(out[1])
    assert reply["kind"] == "related" and reply["answer"] is None
    assert [s["url"] for s in reply["sources"]][:2] == [f"{BASE}refunds", f"{BASE}two-factor"]


def test_format_related_adds_only_web_links_the_text_had_no_room_for():
    excerpt = Source("Plans", "plans.md > Limits", "Sync keeps  1 GB  of notes.", (12, 16),
                     url="https://help.example.com/plans")
    more = (Source("Evil", "evil.md", "evil.md", url="javascript:alert(1)"),
            Source("Sync", "sync.md", "sync.md", url="https://help.example.com/sync"))
    text = ("I'm not sure this answers it, but this part of the help centre looks related:"
            "\n\n“Sync keeps 1 GB of notes.”\n\nSource: plans.md > Limits\n\nIf this "
            "doesn't help, I can connect you with a person (reply yes, or type /human).")
    shown = console.format_reply(Reply(text, "related", 1, 2, 1, sources=(excerpt, *more)))
    assert shown.splitlines()[0] == "Related (not certain):"
    assert "“Sync keeps «1 GB» of notes.”" in shown  # whitespace folded as in the text
    assert shown.endswith("  Plans — https://help.example.com/plans\n"
                          "  Sync — https://help.example.com/sync")
    assert "javascript" not in shown


def test_history_stats_count_related_replies_as_unanswered(make_engine, tmp_path, capsys):
    engine = related_engine(make_engine)
    conversation = engine.start("console", "rob")
    engine.respond(conversation, "When can annual payments be refunded?")
    db = f"sqlite:///{tmp_path / 'history.sqlite'}"
    assert cli.main(["history", "stats", "--json", "--db", db]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["answered"], stats["related"], stats["unanswered"]) == (0, 1, 1)
    assert cli.main(["history", "stats", "--db", db]) == 0
    assert "related 1 (suggestions, not answers" in capsys.readouterr().out
    assert cli.main(["history", "unanswered", "--db", db]) == 0
    assert "When can annual payments be refunded?" in capsys.readouterr().out


def test_the_chat_shows_what_the_team_wrote_at_the_next_turn(make_engine):
    """An operator's replies from the dashboard, and the release line, show before the
    user's next message is answered; each once, and none from before the chat began."""
    from qabot.app import operator_desk

    engine = make_engine()
    desk = operator_desk(engine)
    conversation = engine.start("console", "zoe")
    engine.hand_off(conversation, "/human")
    desk.reply(conversation, "an old reply, shown before", "ann")
    out: list[str] = []

    def script():
        yield "is anyone there?"
        desk.reply(conversation, "Yes, Ann here. Let me check.", "Ann Lee")
        desk.reply(conversation, "Found it: it is fixed.", "bob")
        yield "thanks!"
        desk.release(conversation, "web:bob", "You're talking to the bot again.")
        yield "When can annual payments be refunded?"
        yield "/quit"

    lines = script()
    assert console.chat(engine, "zoe", write=out.append,
                        read=lambda prompt: next(lines)) == 0
    text = "\n".join(out)
    assert "an old reply" not in text
    team = [line for line in out if "(support team)>" in line or "talking to the bot" in line]
    assert team == ["Ann (support team)> Yes, Ann here. Let me check.",
                    "bob (support team)> Found it: it is fixed.",
                    "bot> You're talking to the bot again."]
    assert out.index(team[-1]) < len(out) - 1 and "30 days" in out[-1]  # then the answer

"""Conversation history on SQLite and PostgreSQL: schema by Alembic, CRUD, retention, export."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import inspect, text, update

from qabot.history import History, HistoryError
from qabot.history.export import feedback_to_squad, write_unanswered_csv
from qabot.history.models import Conversation, utcnow


def _answer_sources(context: str, span: str) -> list[dict]:
    start = context.index(span)
    return [{"title": "Refunds", "location": "refund-policy.md > Annual", "snippet": context,
             "highlight": [start, start + len(span)], "source": "refund-policy.md",
             "passage_id": 7, "score": 0.7, "context": context, "answer_start": start}]


def test_schema_is_created_by_alembic_and_upgrade_is_idempotent(history_url):
    history = History.open(history_url)
    tables = set(inspect(history.engine).get_table_names())
    assert {"users", "conversations", "messages", "feedback", "unanswered", "handoffs",
            "alembic_version"} <= tables
    with history.engine.connect() as c:
        assert c.execute(text("select version_num from alembic_version")).scalar() == "0005"
    history.upgrade()  # a second run changes nothing and does not fail
    history.close()


def test_one_vote_per_message_a_second_tap_changes_it(history_url):
    h = History.open(history_url)
    conv = h.current_conversation(h.user_id("telegram", "42"))
    asked = h.add_message(conv.id, "in", "refunds?")
    reply = h.add_message(conv.id, "out", "within 30 days", reply_to=asked, kind="answer")
    first = h.add_feedback(reply, 1)
    assert h.add_feedback(reply, 1) == first  # a double tap: still one vote
    assert h.add_feedback(reply, -1) == first  # changed its mind
    stats = h.stats()
    assert (stats.feedback_up, stats.feedback_down) == (0, 1)
    with h.engine.connect() as c:
        assert c.execute(text("select count(*) from feedback")).scalar() == 1
    h.close()


def test_conversation_lifecycle_messages_and_stats(history_url):
    h = History.open(history_url)
    alice = h.user_id("telegram", "42", "Alice")
    assert h.user_id("telegram", "42") == alice  # found, not duplicated
    assert h.user_id("console", "42") != alice  # another channel, another user
    conv = h.current_conversation(alice)
    assert h.current_conversation(alice).id == conv.id  # still the open one
    asked = h.add_message(conv.id, "in", "can I get my money back?")
    reply = h.add_message(conv.id, "out", "within 30 days", reply_to=asked, kind="answer",
                          intent="question", confidence=0.9, score=31.5, latency_ms=80.0,
                          topic="can I get my money back?",
                          sources=_answer_sources("Refunds within 30 days.", "within 30 days"))
    h.add_message(conv.id, "in", "null \x00 byte and emoji 🙂 and 日本語")
    stored = h.messages(conv.id)
    assert [m.direction for m in stored] == ["in", "out", "in"]
    assert stored[1].reply_to == asked and stored[1].sources[0]["answer_start"] == 8
    assert stored[2].text == "null \ufffd byte and emoji 🙂 and 日本語"
    assert [m.id for m in h.messages(conv.id, limit=2)] == [reply, stored[2].id]
    h.add_feedback(reply, 1, "great")
    with pytest.raises(HistoryError, match="no bot message"):
        h.add_feedback(asked, 1)  # users rate bot messages only
    with pytest.raises(HistoryError, match=r"\+1 or -1"):
        h.add_feedback(reply, 5)
    h.add_unanswered(conv.id, asked, "who is the CEO?", 3.5)
    stats = h.stats()
    assert (stats.users, stats.conversations, stats.messages_in, stats.answered,
            stats.unanswered, stats.feedback_up) == (2, 1, 2, 1, 1, 1)
    assert stats.answer_rate == pytest.approx(0.5)
    new = h.new_conversation(alice)
    assert new.id != conv.id and h.conversation(conv.id).status == "ended"
    h.close()


def test_handoff_and_release(history_url):
    h = History.open(history_url)
    conv = h.current_conversation(h.user_id("console", "bob"))
    assert not h.release(conv.id)  # nothing to release
    h.open_handoff(conv.id, "wants a person")
    assert h.conversation(conv.id).status == "handed_off"
    assert h.current_conversation(h.user_id("console", "bob")).id == conv.id  # stays put
    assert h.release(conv.id, by="operator:1")
    assert h.conversation(conv.id).status == "open"
    assert h.stats().handoffs == 1
    h.close()


def test_purge_deletes_old_conversations_with_everything_in_them(history_url):
    h = History.open(history_url)
    old = h.current_conversation(h.user_id("console", "old"))
    recent = h.current_conversation(h.user_id("console", "recent"))
    for conv in (old, recent):
        asked = h.add_message(conv.id, "in", "q")
        reply = h.add_message(conv.id, "out", "a", reply_to=asked, kind="answer")
        h.add_feedback(reply, -1)
        h.add_unanswered(conv.id, asked, "q", None)
        h.open_handoff(conv.id)
    with h.engine.begin() as c:
        c.execute(update(Conversation).where(Conversation.id == old.id)
                  .values(updated_at=utcnow() - timedelta(days=120)))
    assert h.purge(timedelta(days=90)) == 1
    assert h.messages(old.id) == [] and len(h.messages(recent.id)) == 2
    stats = h.stats()
    assert (stats.users, stats.conversations, stats.unanswered, stats.handoffs,
            stats.feedback_down) == (1, 1, 1, 1, 1)
    assert h.purge(timedelta(days=90)) == 0
    h.close()


def test_forget_user_deletes_only_that_user(history_url):
    h = History.open(history_url)
    for user in ("carol", "dave"):
        uid = h.user_id("telegram", user)
        for _ in range(2):
            conv = h.new_conversation(uid)
            reply = h.add_message(conv.id, "out", "hello", kind="template")
            h.add_feedback(reply, 1)
    assert h.forget_user("telegram", "carol") == 2
    assert h.forget_user("telegram", "carol") == 0
    stats = h.stats()
    assert (stats.users, stats.conversations, stats.feedback_up) == (1, 2, 2)  # dave's
    h.close()


def test_feedback_export_to_squad_and_unanswered_csv(history_url, tmp_path):
    h = History.open(history_url)
    conv = h.current_conversation(h.user_id("console", "erin"))
    context = "Annual plans. You can get a full refund if you ask within 30 days of the charge."
    good = [("can I get my money back?", "within 30 days"), ("refund annual?", "a full refund")]
    for question, span in good:
        asked = h.add_message(conv.id, "in", question)
        reply = h.add_message(conv.id, "out", span, reply_to=asked, kind="answer",
                              topic=question, sources=_answer_sources(context, span))
        h.add_feedback(reply, 1)
    faq = h.add_message(conv.id, "out", "Yes, PayPal.", kind="faq", topic="paypal?",
                        sources=[{"title": "paypal?", "snippet": "paypal?"}])
    h.add_feedback(faq, 1)
    bad = h.add_message(conv.id, "out", "wrong", kind="answer", topic="x?",
                        sources=_answer_sources(context, "Annual"))
    h.add_feedback(bad, -1)
    data, skipped = feedback_to_squad(h.rated_answers(1))
    assert skipped == 1  # the FAQ reply has no span to learn from
    (article,) = data["data"]
    (paragraph,) = article["paragraphs"]
    assert article["title"] == "refund-policy.md" and paragraph["context"] == context
    for qa, (question, span) in zip(paragraph["qas"], good):
        (answer,) = qa["answers"]
        assert qa["question"] == question and answer["text"] == span
        assert context[answer["answer_start"]:][: len(span)] == span
    # the file reads back with the project's own SQuAD loader
    from qabot.training.squad import load_squad

    path = tmp_path / "feedback.json"
    path.write_text(json.dumps(data))
    assert len(load_squad(path)) == 2
    h.add_unanswered(conv.id, bad, "who is the CEO, \"really\"?", 1.25)
    write_unanswered_csv(h.unanswered(), tmp_path / "u.csv")
    lines = (tmp_path / "u.csv").read_text().splitlines()
    assert lines[0] == "asked_at,question,best_score,conversation_id"
    assert '"who is the CEO, ""really""?",1.250' in lines[1]
    h.close()


def test_bad_database_urls_are_clear_errors(tmp_path):
    with pytest.raises(HistoryError, match="invalid database URL"):
        History.open("not a url")
    with pytest.raises(HistoryError, match="cannot open the history database"):
        History.open(f"sqlite:///{tmp_path}")  # a folder, not a file


def test_unanswered_csv_cells_cannot_run_as_formulas(tmp_path):
    import csv
    from datetime import UTC, datetime

    from qabot.history.export import spreadsheet_safe
    from qabot.history.records import UnansweredQuestion

    asked = ["=HYPERLINK(\"http://evil\",\"x\")", "+1 555", "-2+3", "@SUM(A1)", "how much?"]
    rows = [UnansweredQuestion(id=i, conversation_id=1, question=q,
                               best_score=None, created_at=datetime.now(UTC))
            for i, q in enumerate(asked)]
    write_unanswered_csv(rows, tmp_path / "u.csv")
    with (tmp_path / "u.csv").open(newline="", encoding="utf-8") as f:
        cells = [row[1] for row in list(csv.reader(f))[1:]]
    assert cells == ["'" + q for q in asked[:4]] + ["how much?"]
    assert spreadsheet_safe("") == "" and spreadsheet_safe("\tx") == "'\tx"

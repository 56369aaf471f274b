"""What the operator dashboard reads: activity per day, open handoffs, unanswered questions
grouped by similarity."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from qabot.dialogue.clusters import cluster
from qabot.history import History, models
from qabot.history.models import utcnow


@pytest.fixture
def noon(monkeypatch) -> date:
    """The history's clock stopped at noon UTC of a fixed day, a millisecond further at each
    reading: rows are stored on the day the reports call today, whenever the test runs (no
    midnight between storing and reporting), and noon is that day in any session time zone.
    Every history timestamp comes from ``models.utcnow``, which reads ``datetime.now`` through
    the ``datetime`` its module imported: that is what is replaced."""
    start = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    ticks = itertools.count()

    class Stopped(datetime):
        @classmethod
        def now(cls, tz=None) -> datetime:
            assert tz is UTC, "the history reads the time in UTC"
            return start + timedelta(milliseconds=next(ticks))

    monkeypatch.setattr(models, "datetime", Stopped)
    assert utcnow().date() == start.date()
    return start.date()


def test_cluster_groups_similar_rows_largest_first():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    near_a = np.array([0.96, 0.28])  # cosine 0.96 to a
    vectors = np.stack([b, a, near_a, a, np.array([0.6, 0.8])])
    assert cluster(vectors, threshold=0.9) == [[1, 2, 3], [0], [4]]
    assert cluster(vectors, threshold=0.5) == [[1, 2, 3], [0, 4]]
    assert cluster(np.zeros((0, 2))) == []


def test_daily_activity_and_open_handoffs(history_url, noon):
    h = History.open(history_url)
    conv = h.current_conversation(h.user_id("web", "v-1", "Vera"))
    asked = h.add_message(conv.id, "in", "refunds?")
    reply = h.add_reply(conv.id, asked, "within 30 days", kind="answer")
    h.add_feedback(reply, 1)
    other = h.add_message(conv.id, "in", "who is the CEO?")
    h.add_reply(conv.id, other, "I don't know", kind="fallback", unanswered="who is the CEO?")
    h.add_reply(conv.id, h.add_message(conv.id, "in", "a person please"), "asking someone",
                kind="handoff", handoff="a person please")
    days = h.reports().daily(days=3)
    assert [d.day for d in days][-1] == utcnow().date() == noon and len(days) == 3
    today = days[-1]
    assert (today.questions, today.answered, today.unanswered, today.helpful,
            today.not_helpful, today.related) == (3, 1, 1, 1, 0, 0)
    assert today.answer_rate == 0.5 and days[0].questions == 0
    (waiting,) = h.reports().open_handoffs()
    assert (waiting.conversation_id, waiting.channel, waiting.user, waiting.name,
            waiting.reason) == (conv.id, "web", "v-1", "Vera", "a person please")
    h.release(conv.id, "op")
    assert h.reports().open_handoffs() == []
    h.close()


def test_unanswered_questions_are_grouped_by_similarity(make_engine):
    engine = make_engine()
    conversation = engine.start("web", "v-2")
    for question in ("who is the ceo", "who is the ceo", "who is the ceo of the company",
                     "is there a linux client"):
        asked = engine.history.add_message(conversation, "in", question)
        engine.history.add_reply(conversation, asked, "?", kind="fallback",
                                 unanswered=question)
    clusters = engine.unanswered_clusters(threshold=0.6)
    assert [c.count for c in clusters] == [3, 1]
    assert clusters[0].example.startswith("who is the ceo")
    assert clusters[1].questions == ("is there a linux client",)


def test_related_replies_are_their_own_kind_and_count_as_unanswered(history_url, noon):
    """A related reply is a suggestion, not an answer: counted apart, and its question is
    among the unanswered ones (the content gaps operators fill)."""
    h = History.open(history_url)
    conv = h.current_conversation(h.user_id("web", "v-4"))
    asked = h.add_message(conv.id, "in", "how big can attachments be?")
    h.add_reply(conv.id, asked, "I'm not sure this answers it ...", kind="related",
                unanswered="how big can attachments be?")
    today = h.reports().daily(days=1)[-1]
    assert (today.answered, today.related, today.unanswered, today.answer_rate) == (0, 1, 1, 0)
    stats = h.stats()
    assert (stats.answered, stats.related, stats.unanswered) == (0, 1, 1)
    assert [q.question for q in h.unanswered()] == ["how big can attachments be?"]
    h.close()

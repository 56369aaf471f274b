"""The whole bot on the example knowledge base with the real encoder, router and reader."""

from __future__ import annotations

import json

import pytest

from qabot.dialogue.followup import contextual_query, is_follow_up
from tests.conftest import ROOT

pytestmark = pytest.mark.model

# (question, follow-up, the article that answers the follow-up)
FOLLOW_UPS = [
    ("How do I turn on two-factor authentication?", "what if I lose my phone?",
     "two-factor-authentication.md"),
    ("How do I import from Evernote?", "how long does it take?", "import-from-evernote.md"),
    ("What are the API rate limits?", "what happens if I go over?", "api-rate-limits.md"),
    ("How long are deleted notes kept in the trash?", "can I get them back after that?",
     "trash-and-restoring-notes.md"),
    ("How do webhooks work?", "and how do I verify the signature?", "webhooks.md"),
    ("Where are your data centres?", "can I choose one?", "data-centre-regions.md"),
    ("How do I export my notes?", "and what formats are available?", "export-your-notes.md"),
    ("how many devices on the free plan?", "and on Plus?", "device-limits.md"),
    ("Can I share a notebook with someone?", "can they edit it?",
     "sharing-and-permissions.md"),
]


@pytest.fixture
def real_engine(example_engine):
    """The bot with its default settings and shipped models over the example KB (shared)."""
    return example_engine


def test_follow_ups_retrieve_the_right_passage_where_the_bare_question_does_not(real_engine):
    retriever = real_engine.retriever  # the bot's retrieval mode (hybrid) and top k
    k = real_engine.settings.top_k
    bare_right = resolved_first = 0
    for question, follow_up, article in FOLLOW_UPS:
        assert is_follow_up(follow_up)
        bare = retriever.search(follow_up, k)
        resolved = retriever.search(contextual_query(follow_up, question), k)
        assert article in {h.source for h in resolved}, (follow_up, resolved[0].location)
        resolved_first += resolved[0].source == article
        bare_right += bare[0].source == article
    # measured with hybrid retrieval: 8 of 9 resolved follow-ups find their article first, 9 of 9
    # in the top k; 2 of 9 bare follow-ups find it first
    # ("how long does it take?" after Evernote finds the general import article first)
    assert resolved_first >= 8
    assert bare_right <= 3


def test_a_follow_up_conversation_cites_the_topic_article(real_engine):
    conv = real_engine.start("test", "follow-up")
    real_engine.respond(conv, "How do I turn on two-factor authentication?")
    reply = real_engine.respond(conv, "what if I lose my phone?")
    # read with its topic: an answer from the topic's article, or (the shipped reader's best
    # span there is "2FA is available on all plans", which does not answer it) an honest
    # fallback or related reply whose withheld candidate came from that article
    if reply.kind in ("answer", "faq"):
        assert {s.source for s in reply.sources} & {"two-factor-authentication.md", "faq.csv"}
    else:
        assert reply.kind in ("fallback", "related")
        assert "two-factor-authentication.md" in reply.candidate
    stored = real_engine.history.messages(conv)
    assert stored[-2].topic == "How do I turn on two-factor authentication?"


@pytest.mark.parametrize("text", ["", "   ", "\x00\x07\x1b[2J", "👍", "🙂🙂🙂",
                                  "Wie kann ich mein Passwort zurücksetzen?",
                                  "パスワードを忘れました", "x" * 10_000,
                                  "how much is pro " * 700, "'; DROP TABLE messages; --"])
def test_bad_input_never_crashes_and_is_stored(real_engine, text):
    conv = real_engine.start("test", "bad-input")
    before = len(real_engine.history.messages(conv))
    reply = real_engine.respond(conv, text)
    assert reply.kind != "error" and reply.text.strip()
    stored = real_engine.history.messages(conv)
    assert len(stored) == before + 2 and stored[-2].text == text.replace("\x00", "\ufffd")


def test_latency_of_a_knowledge_question(real_engine):
    conv = real_engine.start("test", "latency")
    reply = real_engine.respond(conv, "how much RAM does the desktop app need")
    assert reply.kind in ("answer", "faq")
    assert reply.latency_ms < 2000  # generous: BENCHMARKS.md has the measured p50/p95


@pytest.mark.slow
def test_golden_conversations(real_engine):
    from qabot.evaluation.conversations import load_golden, run_golden, summarize

    results = run_golden(real_engine, load_golden(ROOT / "tests/data/golden_conversations.yaml"))
    summary = summarize(results)
    assert summary["turns"] >= 40
    # measured 0.648 (BENCHMARKS.md); this floor catches regressions, not noise
    assert summary["pass_rate"] >= 0.55, summary


def test_cli_ask_json(real_engine, capsys):
    from qabot import cli

    settings = real_engine.settings
    code = cli.main(["ask", "Can I pay with PayPal?", "--json", "--index",
                     str(settings.index_dir), "--db", settings.database_url])
    assert code == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["kind"] == "faq" and "PayPal" in reply["answer"]


HARDWARE_KB = {  # a product the shipped intent set was not written for
    "battery.md": "# Battery and charging\n\nThe Lumo desk lamp runs for 12 hours on a full "
                  "charge at medium brightness. Charging from empty takes about 3 hours with "
                  "the USB-C cable in the box.\n\nThe battery indicator blinks red when less "
                  "than 10% charge is left.\n",
    "reset.md": "# Factory reset\n\nTo reset the lamp to factory settings, hold the power "
                "button and the dimmer button together for 10 seconds until the light "
                "flashes white three times. All schedules and paired phones are removed.\n",
    "warranty.md": "# Warranty\n\nEvery Lumo lamp has a 2-year limited warranty from the date "
                   "of purchase. The warranty covers manufacturing defects, not damage from "
                   "drops or water.\n",
    "pairing.md": "# Pairing with the app\n\nOpen the Lumo app, tap Add device and hold the "
                  "lamp's power button for 3 seconds until it pulses blue. The lamp pairs over "
                  "Bluetooth Low Energy and needs the phone within 5 metres.\n",
}


@pytest.fixture(scope="module")
def hardware_engine(tmp_path_factory, minilm):
    from indexer.sync import build
    from qabot.app import build_engine
    from qabot.config import load_settings

    root = tmp_path_factory.mktemp("hardware")
    (root / "kb").mkdir()
    for name, text in HARDWARE_KB.items():
        (root / "kb" / name).write_text(text)
    build(root / "kb", root / "index", minilm)
    settings = load_settings(env={}, index_dir=root / "index",
                             database_url=f"sqlite:///{root / 'history.sqlite'}")
    return build_engine(settings, warm=True)


@pytest.mark.parametrize("question", [
    "How long does the lamp battery last on one charge?",
    "my lamp blinks red, what does that mean",
    "How do I factory reset the Lumo lamp?",
    "Does the warranty cover water damage?",
    "why won't my lamp pair with my phone",
])
def test_an_in_domain_question_about_an_unknown_product_is_never_refused(hardware_engine,
                                                                          question):
    reply = hardware_engine.respond(hardware_engine.start("test", question), question)
    # answered, a related passage shown, or honestly not known (a person offered): never
    # "I only help with the product"
    assert reply.kind in ("answer", "related", "fallback"), (question, reply.kind, reply.intent)


@pytest.mark.parametrize("question", [
    "What's the capital of France?",
    "can you book me a table for two tonight",
    "who won the football world cup in 2018?",
])
def test_an_off_topic_question_is_refused(hardware_engine, question):
    reply = hardware_engine.respond(hardware_engine.start("test", question), question)
    assert reply.kind == "out_of_scope", (question, reply.kind, reply.intent)


# one real case per tier, with the shipped models on the example knowledge base
TIERS = [
    ("how many devices can I use for free?", "faq", "2 devices"),
    ("how long do I have to ask for a refund on a yearly plan?", "related", "30 days"),
    ("How long do I have to ask for a refund of a yearly plan?", "related", "30 days"),
    ("is there an apple watch app?", "fallback", "connect you with a person"),
    ("what's the best recipe for banana bread?", "out_of_scope", "rephrase"),
]


@pytest.mark.parametrize(("question", "kind", "expected"), TIERS)
def test_each_tier_is_reached_by_a_real_question(real_engine, question, kind, expected):
    conv = real_engine.start("test", f"tier-{question}")
    reply = real_engine.respond(conv, question)
    assert reply.kind == kind, reply.text
    assert expected in reply.text
    if kind == "related":
        assert reply.answer is None  # nothing asserted
        assert len(reply.text) <= 700 and len(reply.sources[0].snippet) <= 400
        assert reply.sources[0].source == "refund-policy.md"
        # stored as its own kind, and still a content gap for the dashboard
        stored = real_engine.history.messages(conv)[-1]
        assert stored.kind == "related"
        assert question in [q.question for q in real_engine.unanswered(50)]


def test_a_confident_answer(real_engine):
    """The answer tier: a reader span asserted with its sentence and citation."""
    conv = real_engine.start("test", "confident")
    reply = real_engine.respond(conv, "how much RAM does the desktop app need")
    assert reply.kind == "answer", reply.text
    assert reply.answer and reply.answer in reply.text
    assert reply.sources[0].source.endswith(".md")


def test_yes_after_a_related_reply_hands_off(real_engine):
    conv = real_engine.start("test", "related-yes")
    first = real_engine.respond(conv, "How long do I have to ask for a refund of a yearly plan?")
    assert first.kind == "related"
    assert real_engine.respond(conv, "yes").kind == "handoff"

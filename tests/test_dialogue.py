"""ChatEngine's cascade with a real index and history, and fake models (the unit is the engine).

The knowledge base is indexed for real (hashing embedder); intents come from keyword rules and
the reader answers with the first "number word" of a passage that shares a word with the
question, so every decision the engine makes is visible and deterministic.
"""

from __future__ import annotations

import pytest

from qabot.dialogue.engine import DONT_KNOW, ERROR, HANDOFF, INVALID, OUT_OF_SCOPE
from qabot.retrieval import IndexNotFoundError, Retriever
from tests.fakes import BrokenReader


def test_templates_faq_and_cited_answers(make_engine):
    engine = make_engine()
    conv = engine.start("console", "ann")
    hello = engine.respond(conv, "hello")
    assert hello.kind == "template" and hello.intent == "greeting"
    greetings = engine.intents.intent_set.by_name["greeting"].responses
    assert hello.text in [r.replace("{bot_name}", "the support assistant") for r in greetings]
    faq = engine.respond(conv, "Can I pay with PayPal?")
    assert (faq.kind, faq.answer) == ("faq", "Yes. We accept PayPal and cards.")
    assert faq.sources[0].source == "faq.csv" and faq.sources[0].score == pytest.approx(1.0,
                                                                                      abs=1e-4)
    # the reply's score is the FAQ confidence of that cosine similarity
    assert faq.score == pytest.approx(engine.confidences.faq.probability(1.0), abs=1e-4)
    answer = engine.respond(conv, "When can annual payments be refunded?")
    assert answer.kind == "answer" and answer.answer == "30 days"
    (source,) = answer.sources
    assert source.source == "refunds.md"
    assert source.snippet == "Annual payments can be refunded within 30 days of the charge."
    assert source.highlighted("[", "]").endswith("within [30 days] of the charge.")
    assert source.context[source.answer_start:].startswith("30 days")
    assert answer.text.startswith("30 days") and "Source: refunds.md" in answer.text
    # everything is in the history, both directions, with how the reply was made
    stored = engine.history.messages(conv)
    assert [m.direction for m in stored] == ["in", "out"] * 3
    bot = stored[-1]
    assert (bot.id, bot.kind, bot.intent, bot.reply_to) == (
        answer.message_id, "answer", "question", answer.user_message_id)
    assert bot.latency_ms > 0 and bot.score == answer.score
    assert bot.sources[0]["answer_start"] == source.answer_start
    assert stored[-2].topic == "When can annual payments be refunded?"


def test_follow_up_retrieves_with_the_previous_question(make_engine):
    engine = make_engine()
    conv = engine.start("console", "ben")
    first = engine.respond(conv, "How do I turn on two-factor authentication?")
    assert first.kind == "answer"
    follow = engine.respond(conv, "what about recovery codes?")
    assert engine.reader.questions[-1] == ("How do I turn on two-factor authentication? "
                                           "what about recovery codes?")
    # the only answer the reader finds is the one just given: a follow-up does not repeat it
    assert first.answer == "10 recovery" and follow.kind == "fallback"
    # the topic stays the standalone question, so chains of follow-ups keep their subject
    topics = [m.topic for m in engine.history.messages(conv) if m.direction == "in"]
    assert topics == ["How do I turn on two-factor authentication?"] * 2
    # a full new question is not a follow-up
    engine.respond(conv, "When can annual payments be refunded?")
    assert engine.reader.questions[-1] == "When can annual payments be refunded?"


def test_unknown_question_falls_back_offers_a_person_and_is_logged(make_engine):
    engine = make_engine()
    conv = engine.start("console", "cy")
    reply = engine.respond(conv, "Who founded the company originally?")
    assert (reply.kind, reply.text) == ("fallback", DONT_KNOW)
    (logged,) = engine.history.unanswered()
    assert logged.question == "Who founded the company originally?"
    yes = engine.respond(conv, "yes please")
    assert (yes.kind, yes.text) == ("handoff", HANDOFF)
    assert engine.history.conversation(conv).status == "handed_off"


def test_no_after_the_offer_and_yes_out_of_context(make_engine):
    engine = make_engine()
    conv = engine.start("console", "dee")
    assert engine.respond(conv, "yes").kind == "context"  # nothing was offered
    engine.respond(conv, "Who founded the company originally?")
    no = engine.respond(conv, "nope")
    assert no.kind == "context" and engine.history.conversation(conv).status == "open"


def test_handoff_silences_the_bot_until_released(make_engine):
    engine = make_engine()
    conv = engine.start("telegram", "7")
    assert engine.respond(conv, "I want to talk to a person").kind == "handoff"
    quiet = engine.respond(conv, "When can annual payments be refunded?")
    assert quiet.silent and quiet.text == ""
    assert len(engine.history.messages(conv)) == 4  # still stored
    assert engine.release(conv, by="operator")
    assert engine.respond(conv, "When can annual payments be refunded?").kind == "answer"


def test_out_of_scope_unless_the_knowledge_base_has_it(make_engine):
    engine = make_engine()
    conv = engine.start("console", "eve")
    reply = engine.respond(conv, "what's the weather like today?")
    assert (reply.kind, reply.text) == ("out_of_scope", OUT_OF_SCOPE)
    assert engine.history.unanswered() == []  # chit-chat is not an unanswered question
    # an out-of-scope guess that the knowledge base clearly answers is answered
    reply = engine.respond(conv, "weather: how much does the web app store offline?")
    assert reply.kind == "answer" and reply.answer == "2 GB"


def test_out_of_scope_needs_the_knowledge_base_to_know_nothing_either(make_engine):
    # the router calls both messages out of scope ("football" in the rules) and no answer is
    # sure enough: the one about the knowledge base gets an honest "I don't know" (logged as
    # unanswered, a person offered), the off-topic one is refused
    engine = make_engine(answer_confidence=0.9)
    conv = engine.start("console", "kim")
    reply = engine.respond(conv, "football fan here: how many notes does the Android app "
                                 "keep offline?")
    assert reply.intent == "out_of_scope" and (reply.kind, reply.text) == ("fallback", DONT_KNOW)
    assert reply.candidate is not None and "50 notes" in reply.candidate  # withheld, not sent
    assert [u.question for u in engine.history.unanswered()] == [
        "football fan here: how many notes does the Android app keep offline?"]
    reply = engine.respond(conv, "who won the football yesterday?")
    assert (reply.kind, reply.text) == ("out_of_scope", OUT_OF_SCOPE)
    assert len(engine.history.unanswered()) == 1


def test_answers_need_the_answer_confidence(make_engine):
    question = "When can annual payments be refunded?"
    sure = make_engine(answer_confidence=0.5)  # the fake model is 0.5 sure of every answer
    reply = sure.respond(sure.start("console", "lee"), question)
    assert (reply.kind, reply.answer, reply.score) == ("answer", "30 days", 0.5)
    unsure = make_engine(answer_confidence=0.51)
    reply = unsure.respond(unsure.start("console", "lee"), question)
    assert (reply.kind, reply.score) == ("fallback", 0.5)
    assert reply.candidate.startswith("30 days")


def test_goodbye_ends_the_conversation(make_engine):
    engine = make_engine()
    conv = engine.start("console", "fay")
    assert engine.respond(conv, "ok bye").kind == "end"
    assert engine.history.conversation(conv).status == "ended"
    assert engine.start("console", "fay") != conv
    new = engine.reset(engine.start("console", "fay"))
    assert engine.history.conversation(new).status == "open"


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x00\x01\x02", "?!...", "a" * 10_000,
                                  "🙂🙂🙂", "日本語で質問できますか", "¿Dónde está mi factura?",
                                  "when can annual\x00 payments be \u202erefunded?",
                                  "<script>alert(1)</script>", None])
def test_bad_input_gets_a_polite_reply_and_is_stored(make_engine, text):
    engine = make_engine()
    conv = engine.start("console", "gus")
    reply = engine.respond(conv, text)
    assert reply.text.strip() and reply.kind != "error"
    if text is None or not any(ch.isalnum() or ord(ch) > 0x2000 for ch in text):
        assert (reply.kind, reply.text) == ("invalid", INVALID)
    stored = engine.history.messages(conv)
    assert [m.direction for m in stored] == ["in", "out"]
    assert len(stored[0].text) == len(text or "")  # stored whole, even 10,000 characters


def test_long_messages_are_read_up_to_the_limit(make_engine):
    engine = make_engine(max_message_chars=200)
    conv = engine.start("console", "hal")
    engine.respond(conv, "tell me " * 500)
    assert max(len(t) for t in engine.intents.seen) <= 200


def test_a_failing_model_gets_an_apology_and_loses_nothing(make_engine, caplog):
    engine = make_engine(reader=BrokenReader())
    conv = engine.start("console", "ivy")
    reply = engine.respond(conv, "When can annual payments be refunded?")
    assert (reply.kind, reply.text) == ("error", ERROR)
    assert "model exploded" in caplog.text
    assert len(engine.history.messages(conv)) == 2
    assert engine.respond(conv, "hello").kind == "template"  # the engine goes on


def test_feedback_is_stored_against_the_reply(make_engine):
    engine = make_engine()
    conv = engine.start("console", "jo")
    answer = engine.respond(conv, "When can annual payments be refunded?")
    engine.feedback(answer.message_id, helpful=True)
    (rated,) = engine.history.rated_answers(1)
    assert rated.message_id == answer.message_id
    assert rated.question == "When can annual payments be refunded?"


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="qabot-index build"):
        Retriever(tmp_path / "nowhere").store  # noqa: B018


def test_how_to_questions_get_the_steps(make_engine):
    engine = make_engine()
    conv = engine.start("console", "kim")
    reply = engine.respond(conv, "How do I export a notebook?")
    steps = "1. Open the notebook.\n2. Select Export.\n3. Choose PDF, Markdown or HTML."
    assert (reply.kind, reply.answer) == ("answer", steps)
    assert reply.text == f"{steps}\n\nSource: export.md"
    (source,) = reply.sources
    assert source.context[source.answer_start:].startswith(steps)
    # a question that is not a how-to gets the span
    other = engine.respond(conv, "In how many formats can a notebook be exported?")
    assert other.answer == "3 formats"


def test_the_bot_calls_itself_by_bot_name(make_engine):
    engine = make_engine(bot_name="Quilly")
    greetings = engine.intents.intent_set.by_name["greeting"].responses
    seen = set()
    for i in range(2 * len(greetings)):  # the greeting a conversation gets depends on its number
        seen.add(engine.respond(engine.start("console", f"u{i}"), "hello").text)
    assert "Hi! I'm Quilly. Ask me anything about the product." in seen
    assert not any("{bot_name}" in text for text in seen)

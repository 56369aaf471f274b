"""The FAQ cut at its boundary: paraphrases just above and below it, the ``faq_confidence``
override, and the two branches that change what a follow-up gets.

The fake FAQ confidence (``fakes.fake_confidences``) is 0.5 sure at cosine 0.9, so the cut
sits at cosine 0.9 — far from 0.5, where comparing the raw cosine with the probability
threshold would put it. The hashing embedder's cosines are exact and fixed (bags of words):
"Can I pay with PayPal please?" is 0.913 from the FAQ's question, "Can I pay by PayPal?" 0.8.
"""

from __future__ import annotations

import pytest

from qabot.intents.routing import IntentPrediction
from tests.fakes import RuleIntents

FAQ_ANSWER = "Yes. We accept PayPal and cards."
ABOVE = "Can I pay with PayPal please?"  # cosine 0.913: just above the cut
BELOW = "Can I pay by PayPal?"  # cosine 0.8: below it, above a raw-cosine cut of 0.5


def cosine(engine, text: str) -> float:
    (hit,) = engine.retriever.search_faq(text, 1)
    return float(hit.score)


def test_the_paraphrases_sit_on_each_side_of_the_cut(make_engine):
    engine = make_engine()
    assert cosine(engine, ABOVE) == pytest.approx(0.913, abs=1e-3)
    assert cosine(engine, BELOW) == pytest.approx(0.8, abs=1e-3)
    faq = engine.confidences.faq
    assert faq.probability(cosine(engine, ABOVE)) >= engine.faq_confidence \
        > faq.probability(cosine(engine, BELOW))


def test_a_paraphrase_just_above_the_cut_gets_the_curated_answer(make_engine):
    engine = make_engine()
    reply = engine.respond(engine.start("console", "ann"), ABOVE)
    assert (reply.kind, reply.answer) == ("faq", FAQ_ANSWER)
    assert reply.score == pytest.approx(engine.confidences.faq.probability(0.913), abs=2e-3)
    assert 0.5 < reply.score < 0.8  # the calibrated confidence, not the cosine


def test_a_paraphrase_below_the_cut_does_not(make_engine):
    engine = make_engine()
    reply = engine.respond(engine.start("console", "ann"), BELOW)
    assert reply.kind != "faq" and reply.answer != FAQ_ANSWER


def test_the_cut_moves_with_the_calibration_not_the_cosine(make_engine):
    """The same message on each side of a cut that the FAQ confidence model places."""
    lenient = make_engine(confidences=_faq_cut_at(0.75))
    assert lenient.respond(lenient.start("console", "a"), BELOW).kind == "faq"
    strict = make_engine(confidences=_faq_cut_at(0.95))
    assert strict.respond(strict.start("console", "a"), ABOVE).kind != "faq"


@pytest.mark.parametrize(("setting", "message", "is_faq"), [
    (0.999, ABOVE, False),  # probability 0.66 at cosine 0.913: under a stricter override
    (0.005, BELOW, True),  # probability 0.0067 at cosine 0.8: over a looser one
    (None, ABOVE, True),  # no override: the model's own operating point (0.5)
    (None, BELOW, False),
])
def test_the_faq_confidence_setting_overrides_the_operating_point(make_engine, setting,
                                                                  message, is_faq):
    engine = make_engine(faq_confidence=setting)
    expected = setting if setting is not None else engine.confidences.faq.threshold
    assert engine.faq_confidence == expected
    reply = engine.respond(engine.start("console", "ann"), message)
    assert (reply.kind == "faq") is is_faq


def test_a_follow_up_does_not_repeat_the_faq_answer_just_given(make_engine):
    engine = make_engine()
    conv = engine.start("console", "ann")
    assert engine.respond(conv, "Can I pay with PayPal?").kind == "faq"
    follow = engine.respond(conv, "what about PayPal?")
    # it is read with its topic: "Can I pay with PayPal? what about PayPal?" ...
    assert engine.reader.questions[-1] == "Can I pay with PayPal? what about PayPal?"
    assert follow.kind != "faq" and FAQ_ANSWER not in follow.text
    # ... which, asked on its own, matches the FAQ: only the answer just given is withheld
    alone = engine.respond(engine.start("console", "ben"),
                           "Can I pay with PayPal? what about PayPal?")
    assert (alone.kind, alone.answer) == ("faq", FAQ_ANSWER)


class UnsureSmallTalk(RuleIntents):
    """"and on the web?" read as a greeting, as sure as ``confidence``."""

    def __init__(self, confidence: float):
        super().__init__()
        self.confidence = confidence

    def predict(self, text: str) -> IntentPrediction:
        if text.lower().startswith("and on the web"):
            self.seen.append(text)
            return IntentPrediction("greeting", self.confidence, "question", 0.3, "greeting",
                                    "template")
        return super().predict(text)


@pytest.mark.parametrize("confidence", [0.4, 0.6])
def test_unsure_small_talk_after_a_question_is_a_follow_up(make_engine, confidence):
    engine = make_engine()
    engine.intents = UnsureSmallTalk(confidence)
    conv = engine.start("console", "ann")
    first = engine.respond(conv, "How much does the app keep offline on Android?")
    assert (first.kind, first.answer) == ("answer", "50 notes")
    follow = engine.respond(conv, "and on the web?")
    if confidence < 0.5:  # unsure: read as a follow-up of the question before
        assert follow.kind in ("answer", "related", "fallback")
        assert engine.reader.questions[1:] == [
            "How much does the app keep offline on Android? and on the web?"]
    else:  # sure: the greeting it was classified as
        assert follow.kind == "template" and follow.intent == "greeting"
        assert len(engine.reader.questions) == 1


def test_unsure_small_talk_without_a_question_before_stays_small_talk(make_engine):
    engine = make_engine()
    engine.intents = UnsureSmallTalk(0.4)
    reply = engine.respond(engine.start("console", "ann"), "and on the web?")
    assert reply.kind == "template" and not engine.reader.questions


def _faq_cut_at(cosine: float):
    from tests.fakes import fake_confidences

    return fake_confidences(faq_cosine=cosine)

"""FaqMatcher over a fake FAQ search that returns near-twins (the unit is the matcher)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qabot.dialogue.faq import DEMOTED, NEIGHBOURS, FaqMatch, FaqMatcher


@dataclass(frozen=True)
class Hit:  # the fields of indexer.store.FaqHit the matcher reads
    faq_id: int
    score: float
    question: str
    answer: str
    source: str = "faq.csv"
    row: int = 0


class FakeSearch:
    def __init__(self, hits):
        self.hits = hits
        self.calls = []

    def __call__(self, text, k=1, *, vector=None):
        self.calls.append((text, k, vector))
        return self.hits[:k]


PLANS = [Hit(1, 0.91, "What's the API rate limit on Pro?", "Pro allows 300 requests a minute.",
             row=51),
         Hit(2, 0.88, "What's the API rate limit on Free?", "Free allows 60 requests a minute.",
             row=52),
         Hit(3, 0.86, "What's the API rate limit on Plus?", "Plus allows 120 requests a minute.",
             row=53),
         Hit(4, 0.52, "Can I pay with PayPal?", "Yes.", row=5),
         Hit(5, 0.41, "Is there a free trial?", "Yes, 14 days.", row=4),
         Hit(6, 0.40, "Never read", "-", row=6)]


def test_the_nearest_question_when_the_message_agrees():
    search = FakeSearch(PLANS)
    vector = np.ones(3, dtype=np.float32)
    match = FaqMatcher(search).best("How many API calls a minute on Pro?", vector)
    assert match == FaqMatch("What's the API rate limit on Pro?", "Pro allows 300 requests a "
                             "minute.", 0.91, "faq.csv", 51, 1, similarity=0.91, twin="agrees")
    # it reads the neighbours, with the engine's vector
    ((text, k, passed),) = search.calls
    assert (text, k, passed is vector) == ("How many API calls a minute on Pro?", NEIGHBOURS, True)


def test_the_twin_the_message_names_with_its_own_score():
    match = FaqMatcher(FakeSearch(PLANS)).best("What is the API rate limit on the Free plan?")
    assert (match.question, match.answer, match.score, match.row, match.faq_id) == (
        "What's the API rate limit on Free?", "Free allows 60 requests a minute.", 0.88, 52, 2)
    assert (match.twin, match.terms) == ("twin", ("free", "pro"))


def test_a_refused_match_is_demoted_below_any_threshold():
    search = FakeSearch(PLANS)
    swapped = FaqMatcher(search).best("What's the API rate limit on Team?")
    assert (swapped.question, swapped.score, swapped.similarity) == (
        "What's the API rate limit on Pro?", DEMOTED, 0.91)
    assert swapped.twin == "contradicted" and "team" in swapped.terms
    unsaid = FaqMatcher(search).best("What is the API rate limit?")
    assert (unsaid.score, unsaid.twin, unsaid.terms) == (DEMOTED, "ambiguous",
                                                         ("free", "plus", "pro"))


def test_numbers_and_platforms():
    hits = [Hit(1, 0.93, "Does it work on Android 9?", "No, it needs Android 10."),
            Hit(2, 0.70, "Which iOS version do I need?", "iOS 16 or later.")]
    assert FaqMatcher(FakeSearch(hits)).best("Does it work on Android 11?").score == DEMOTED
    assert FaqMatcher(FakeSearch(hits)).best("Does it work on Android 9?").score == 0.93
    assert FaqMatcher(FakeSearch(hits[1:])).best(
        "Which Android version do I need?").score == DEMOTED


def test_no_faq_no_match():
    assert FaqMatcher(FakeSearch([])).best("anything") is None

"""The best candidate of a knowledge question, assessed: the answer it would make, the related
reply it would make, and the evidence the tiers decide on.

``assess`` is what the engine does between reading the passages and choosing a tier, and what
``qabot train tiers`` asks of every training question, so that the tier models are fitted on
exactly the replies the bot sends. Pure over its inputs (retrieved hits, the reader's result,
the confidence models).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from qabot.dialogue.answers import (
    Outcome,
    answer_text,
    find_words,
    repeats,
    source_of,
    steps_outcome,
    tidy,
)
from qabot.dialogue.confidence import Confidences, Evidence, evidence
from qabot.dialogue.related import excerpt_source, more_articles, related_reply, url_of
from qabot.dialogue.steps import is_how_to
from qabot.dialogue.tier_evidence import tier_evidence

if TYPE_CHECKING:
    from qabot.history.records import StoredMessage


@dataclass(frozen=True)
class Candidate:
    best: Any  # the reader's best fresh answer (a ReaderAnswer), tidied
    answer_probability: float  # the SQuAD-fitted answer confidence
    tier: Evidence  # tier_evidence.TIER_FEATURES
    answer: Outcome  # the answer this candidate makes (kind "answer": a span or steps)
    related: Outcome  # the related reply it makes (kind "related")


def assess(query: str, message: str, hits: Sequence, result, said: StoredMessage | None,
           confidences: Confidences, *, unknown_words: int, base_url: str | None
           ) -> Candidate | None:
    """The best candidate of ``result`` (the reader's reading of ``hits`` for ``query``) that
    does not repeat the last reply ``said``; None when there is none. ``message`` is the
    user's own text (is it a how-to question?)."""
    fresh = [a for a in result.answers if not repeats(a, hits[a.passage_index], said)]
    if not fresh:
        return None
    best = tidy(fresh[0])
    how_to = is_how_to(message)
    probability = confidences.answer.probability(
        evidence(query, hits, fresh, result.no_answer_score, best))
    excerpt, steps = excerpt_source(hits[best.passage_index], best.start, best.end,
                                    how_to=how_to, base_url=base_url)
    if how_to and not steps:  # the steps of a close passage beat a sentence without them
        listed = steps_outcome(hits, best, said)
        if listed is not None:
            at = listed.sources[0].answer_start or 0
            hit = next(h for h in hits if h.text == listed.sources[0].context)
            excerpt, steps = excerpt_source(hit, at, at + 1, how_to=True, base_url=base_url)
            excerpt = replace(excerpt, highlight=None)  # no candidate in this list
    tier = tier_evidence(query, hits, best, probability, excerpt.snippet,
                         unknown_words=unknown_words, how_to=how_to, steps=steps)
    answer = _answer(hits, best, said, how_to, base_url)
    reply, cited = related_reply(excerpt, more_articles(hits, excerpt.source, base_url))
    related = Outcome("related", reply, sources=cited, unanswered=True,
                      candidate=answer.text)
    return Candidate(best, probability, tier, answer, related)


def _answer(hits: Sequence, best, said, how_to: bool, base_url: str | None) -> Outcome:
    """The answer reply: the steps of a how-to question's section when it has them, else the
    span with its sentence; citations linked."""
    if how_to:
        found = steps_outcome(hits, best, said)
        if found is not None:
            hit = next(h for h in hits if h.text == found.sources[0].context)
            source = replace(found.sources[0], url=url_of(hit, base_url))
            return replace(found, text=answer_text(found.answer, source, steps=True),
                           sources=(source,))
    also = [(i, find_words(hits[i].text, best.text)) for i in best.also_in]
    sources = tuple(replace(s, url=url_of(hits[i], base_url)) for i, s in (
        (best.passage_index, source_of(hits[best.passage_index], best.start, best.end)),
        *((i, source_of(hits[i], *at)) for i, at in also if at is not None)))
    return Outcome("answer", answer_text(best.text, sources[0]), answer=best.text,
                   sources=sources)

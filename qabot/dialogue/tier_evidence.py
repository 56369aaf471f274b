"""Evidence for the reply tiers on a help centre: is the best candidate an answer to assert, a
related passage to show, or nothing?

The answer confidence (``confidence.evidence`` and its model) was fitted on SQuAD and
COVID-QA, whose questions share their sentence's words; help-centre users write differently.
``tier_evidence`` adds what every help centre has and SQuAD lacks, with that confidence's
log-odds as one feature (so what it learnt is kept):

- how close the best passage is, and how far ahead of the first passage of *another article*
  it is (the retrieval margin between articles);
- whether the reader's candidate lies in the retriever's first article (agreement);
- how much of the question the candidate's title and headings, and its excerpt, repeat;
- how many of the question's words the knowledge base has never seen ("outlook" in a help
  centre that never names Outlook cannot be answered there);
- whether it asks for a procedure, and whether the excerpt is a list of steps.

The two tier models (``ConfidenceModel`` over ``TIER_FEATURES``) are fitted on help-centre
questions by ``qabot train tiers``. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from qabot.dialogue.confidence import CLIP, Evidence, overlap
from qabot.retrieval.bm25 import tokenize

TIER_FEATURES = (
    "answer_logit",  # log-odds of the SQuAD-fitted answer confidence
    "top_similarity",  # the best cosine of any retrieved passage
    "passage_similarity",  # the cosine of the candidate's passage
    "article_margin",  # top cosine minus the best cosine of a passage of another article
    "same_article",  # 1: the candidate's passage is of the first retrieved article
    "title_overlap",  # share of the question's words in the candidate's title and headings
    "excerpt_overlap",  # share of the question's words in the excerpt shown
    "unknown_words",  # the question's words the knowledge base never uses (at most 3)
    "question_words",  # log(1 + content words in the question)
    "how_to",  # 1: the question asks for a procedure
    "steps",  # 1: the excerpt is a list of steps
)
UNKNOWN_CAP = 3


def _logit(p: float) -> float:
    p = min(1 - 1e-6, max(1e-6, p))
    return max(-CLIP, min(CLIP, math.log(p / (1 - p))))


def article_margin(passages: Sequence) -> float:
    """The first passage's cosine minus the best cosine of a passage from another file."""
    if not passages:
        return 0.0
    first = passages[0]
    top = float(getattr(first, "score", 0.0) or 0.0)
    others = [float(getattr(p, "score", 0.0) or 0.0) for p in passages[1:]
              if getattr(p, "source", None) != getattr(first, "source", None)]
    return max(0.0, top - max(others)) if others else top


def tier_evidence(question: str, passages: Sequence, best, answer_probability: float,
                  excerpt: str, *, unknown_words: int, how_to: bool, steps: bool
                  ) -> Evidence:
    """Features (``TIER_FEATURES`` order) of the candidate ``best`` (a ReaderAnswer read from
    ``passages``) and the ``excerpt`` a related reply would show."""
    words = set(tokenize(question))
    passage = passages[best.passage_index]
    heading = " ".join([str(getattr(passage, "title", "") or ""),
                        *(getattr(passage, "headings", ()) or ())])
    similarity = [float(getattr(p, "score", 0.0) or 0.0) for p in passages]
    first = getattr(passages[0], "source", None)
    values = (
        _logit(answer_probability),
        max(similarity),
        similarity[best.passage_index],
        article_margin(passages),
        float(getattr(passage, "source", None) == first),
        overlap(words, heading),
        overlap(words, excerpt),
        float(min(UNKNOWN_CAP, unknown_words)),
        math.log1p(len(words)),
        float(how_to),
        float(steps),
    )
    return Evidence(tuple(float(v) for v in values))

"""FAQ matching: a message close enough to a curated question gets the curated answer.

The nearest question is not always the message's: FAQs hold near-twins that differ only in a
plan, product, platform or number ("...on Pro?" / "...on Free?"), and the encoder puts them and
the message close together. ``best`` reads the ``NEIGHBOURS`` nearest questions and lets the
twin check (``qabot.dialogue.twins.choose``) pick the one whose slot terms agree with the
message: the nearest when it agrees, else a lower neighbour naming what the message names (with
that neighbour's own score). When none agrees, the nearest is returned *demoted*: its ``score``
is ``DEMOTED`` (0.0, which no FAQ confidence threshold passes) and its cosine stays in
``similarity``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qabot.dialogue.twins import choose

NEIGHBOURS = 5  # FAQ questions read to find the nearest one's twins
DEMOTED = 0.0  # the score of a match the twin check refused


@dataclass(frozen=True)
class FaqMatch:
    question: str  # the curated question that matched
    answer: str
    score: float  # cosine similarity of the message to the question; DEMOTED when refused
    source: str
    row: int
    faq_id: int
    similarity: float | None = None  # the cosine itself (None: same as score)
    twin: str = ""  # the twin check's verdict: agrees, twin, contradicted, ambiguous
    terms: tuple[str, ...] = ()  # the slot terms that decided against the nearer questions


class FaqMatcher:
    """``search(text, k, vector=...)`` returns FAQ hits (``indexer.store.FaqHit``) best first
    (``Retriever.search_faq``)."""

    def __init__(self, search: Callable[..., Sequence], neighbours: int = NEIGHBOURS):
        self._search = search
        self.neighbours = neighbours

    def best(self, text: str, vector: np.ndarray | None = None) -> FaqMatch | None:
        """The FAQ entry whose question the message asks: the nearest one unless the twin
        check refuses it (module docstring); None when there is no FAQ."""
        hits = self._search(text, self.neighbours, vector=vector)
        if not hits:
            return None
        choice = choose(text, [h.question for h in hits], [float(h.score) for h in hits],
                        [h.answer for h in hits])
        h = hits[0 if choice.index is None else choice.index]
        score = float(h.score)
        return FaqMatch(h.question, h.answer, score if choice.index is not None else DEMOTED,
                        h.source, h.row, h.faq_id, similarity=score, twin=choice.reason,
                        terms=choice.terms)

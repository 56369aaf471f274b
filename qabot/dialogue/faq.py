"""FAQ matching: a message close enough to a curated question gets the curated answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FaqMatch:
    question: str  # the curated question that matched
    answer: str
    score: float  # cosine similarity of the message to the question
    source: str
    row: int
    faq_id: int


class FaqMatcher:
    """``search(text, k, vector=...)`` returns FAQ hits (``indexer.store.FaqHit``) best first
    (``Retriever.search_faq``)."""

    def __init__(self, search: Callable[..., Sequence]):
        self._search = search

    def best(self, text: str, vector: np.ndarray | None = None) -> FaqMatch | None:
        """The closest FAQ entry, whatever its score (None when there is no FAQ)."""
        hits = self._search(text, 1, vector=vector)
        if not hits:
            return None
        h = hits[0]
        return FaqMatch(h.question, h.answer, float(h.score), h.source, h.row, h.faq_id)

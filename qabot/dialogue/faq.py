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
    """``search(vector, k)`` returns FAQ hits (``indexer.store.FaqHit``) best first."""

    def __init__(self, search: Callable[[np.ndarray, int], Sequence], threshold: float):
        self._search = search
        self.threshold = threshold

    def best(self, vector: np.ndarray) -> FaqMatch | None:
        """The closest FAQ entry, whatever its score (None when there is no FAQ)."""
        hits = self._search(vector, 1)
        if not hits:
            return None
        h = hits[0]
        return FaqMatch(h.question, h.answer, float(h.score), h.source, h.row, h.faq_id)

    def match(self, vector: np.ndarray) -> FaqMatch | None:
        """The closest FAQ entry when its score reaches the threshold."""
        best = self.best(vector)
        return best if best is not None and best.score >= self.threshold else None

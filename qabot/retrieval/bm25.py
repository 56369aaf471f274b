"""Okapi BM25 over passages, and rank fusion: pure functions and a small in-memory index.

Tokens are lowercased word characters with English stop words and a light suffix stripping
(plural -s, -es, -ies), so "refunds" finds "refund". The index is built from the store's
passages when a retriever first needs it (a few milliseconds per thousand passages).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np

_WORD = re.compile(r"[0-9a-z]+(?:['’][a-z]+)?")
STOP = frozenset("""a an and are as at be but by can could did do does for from had has have how
i if in into is it its me my of on or our so than that the their them then there these they this
to too up us was we were what when where which who why will with would you your""".split())


def tokenize(text: str) -> list[str]:
    out = []
    for word in _WORD.findall(text.lower()):
        word = word.replace("’", "'").split("'")[0]
        if word in STOP or not word:
            continue
        if len(word) > 4 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
            word = word[:-2]
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


class BM25:
    """Okapi BM25 (k1=1.2, b=0.75) over ``(id, text)`` documents."""

    def __init__(self, documents: Iterable[tuple[int, str]], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.ids: list[int] = []
        self._postings: dict[str, list[tuple[int, int]]] = {}
        lengths = []
        for row, (doc_id, text) in enumerate(documents):
            self.ids.append(doc_id)
            counts = Counter(tokenize(text))
            lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                self._postings.setdefault(term, []).append((row, tf))
        self._lengths = np.asarray(lengths, dtype=np.float32)
        self._avg = float(self._lengths.mean()) if lengths else 0.0
        n = len(self.ids)
        self._idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5))
                     for t, p in self._postings.items()}

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str) -> np.ndarray:
        """A BM25 score per document, in index order."""
        scores = np.zeros(len(self.ids), dtype=np.float32)
        norm = self.k1 * (1 - self.b + self.b * self._lengths / max(self._avg, 1e-9))
        for term in set(tokenize(query)):
            for row, tf in self._postings.get(term, ()):
                scores[row] += self._idf[term] * tf * (self.k1 + 1) / (tf + norm[row])
        return scores

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The top ``k`` (id, score) with a positive score, best first."""
        scores = self.scores(query)
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

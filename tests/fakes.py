"""Fakes for tests whose unit is not the model: a hashing bag-of-words embedder."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def regex_token_spans(text: str) -> list[tuple[int, int]]:
    """Words and punctuation marks, like BERT's pre-tokenizer (without word pieces)."""
    return [m.span() for m in _TOKEN.finditer(text)]


class HashingEmbedder:
    """Deterministic, fast, dependency-free: each lowercased word hashes to a dimension.

    Texts sharing words get high cosine similarity, so retrieval tests are meaningful.
    ``calls`` counts the texts embedded, so tests can assert what was (not) re-embedded.
    """

    def __init__(self, dimension: int = 64, model_name: str = "test/hashing-embedder"):
        self._dimension = dimension
        self._name = model_name
        self.calls = 0
        self.batches: list[int] = []

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return regex_token_spans(text)

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls += len(texts)
        self.batches.append(len(texts))
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
                out[row, h % self._dimension] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out

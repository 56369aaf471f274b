"""The cross-encoder reranker: reads the question and each candidate passage together and
reorders the retriever's candidates by how well each answers it.

``rerank_order`` is the pure part (a stable sort: ties keep the retriever's order);
``CrossEncoderReranker`` scores with a sentence-transformers ``CrossEncoder`` folder (the
model/ of ``qabot train reranker``), loaded on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

# candidates the retriever hands the reranker per question (the reader then reads top_k)
RERANK_CANDIDATES = 20


class Reranker(Protocol):
    def score(self, question: str, passages: Sequence[str]) -> list[float]: ...


def rerank_order(scores: Sequence[float]) -> list[int]:
    """Indices of ``scores`` from the highest score down; equal scores keep their order."""
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def rerank(reranker: Reranker, question: str, hits: Sequence, k: int) -> list:
    """The ``k`` best of ``hits`` (anything with ``.text``) by the reranker's score."""
    if not hits:
        return []
    scores = reranker.score(question, [h.text for h in hits])
    return [hits[i] for i in rerank_order(scores)[:k]]


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder folder; fp16 weights on disk compute in fp32."""

    def __init__(self, model_dir: str | Path, *, batch_size: int = 32, max_length: int = 320):
        self.model_dir = Path(model_dir)
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = None

    def warm_up(self) -> None:
        self.score("warm up", ["warm up"])

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        model = self._load()
        scores = model.predict([(question, p) for p in passages], batch_size=self.batch_size,
                               show_progress_bar=False, convert_to_numpy=True)
        return [float(s) for s in scores]

    def _load(self):
        if self._model is None:
            from qabot.errors import ModelNotFoundError

            if not (self.model_dir / "config.json").is_file():
                raise ModelNotFoundError(f"no reranker model in {self.model_dir} (train one "
                                         "with 'qabot train reranker')")
            from sentence_transformers.cross_encoder import CrossEncoder

            self._model = CrossEncoder(str(self.model_dir), device="cpu",
                                       max_length=self.max_length,
                                       model_kwargs={"dtype": "float32"})
        return self._model

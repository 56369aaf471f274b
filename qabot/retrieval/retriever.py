"""Retriever over an IndexStore: embeds a query with the index's own model and searches.

Passages: ``dense`` (cosine over FAISS, with the index's model), ``bm25`` (Okapi BM25 over the same
passages: on first use, the index generation's saved BM25 index is loaded, or, for a generation
without a usable one, built in memory; see ``IndexStore.bm25``), or ``hybrid`` (both, fused by
weighted reciprocal rank); with a ``reranker``, the best ``rerank_candidates`` of that ranking
are reordered by the cross-encoder (``rerank.py``). Every hit is scored by its cosine
similarity to the query, whichever way it was found, so the reader's retriever fusion means the
same thing in every mode. FAQ questions: dense. The store opens on first use and ``reload()``
picks up a newer index generation (after a reindex).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from indexer.manifest import read_manifest
from indexer.store import FaqHit, IndexStore, SearchHit
from qabot.errors import IndexNotFoundError, InvalidSettingError
from qabot.retrieval.bm25 import BM25
from qabot.retrieval.fusion import reciprocal_rank_fusion
from qabot.retrieval.rerank import RERANK_CANDIDATES, Reranker
from qabot.retrieval.rerank import rerank as rerank_hits

MODES = ("dense", "bm25", "hybrid")
CANDIDATES = 4  # each ranking offers k x this many candidates to the fusion
# hybrid: BM25's ranks count fully, dense ranks half, with a small RRF constant (BENCHMARKS.md
# sections 8 and 10: with the trained retriever the validation grid preferred dense 1.5 by 1.4
# points of recall@5, the eval sets 0.5 by 0.6 and 4.5; the weights were kept)
RRF_K = 10
DENSE_WEIGHT = 0.5


class Retriever:
    def __init__(self, index_dir: str | Path, embedder=None, mode: str = "dense",
                 rrf_k: int = RRF_K, dense_weight: float = DENSE_WEIGHT,
                 reranker: Reranker | None = None, rerank_candidates: int = RERANK_CANDIDATES):
        if mode not in MODES:
            raise InvalidSettingError(f"retrieval mode must be one of {', '.join(MODES)}, "
                                      f"got {mode!r}")
        self.index_dir = Path(index_dir)
        self.mode = mode
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.reranker = reranker
        self.rerank_candidates = rerank_candidates
        self._embedder = embedder
        self._store: IndexStore | None = None
        self._bm25: BM25 | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self):
        if self._embedder is None:
            from indexer.embedding import embedder_for

            manifest = self._manifest()
            self._embedder = embedder_for(manifest.model_name, manifest.dimension)
        return self._embedder

    @property
    def store(self) -> IndexStore:
        with self._lock:
            if self._store is None:
                self._manifest()
                self._store = IndexStore.open(self.index_dir,
                                              model_name=self.embedder.model_name,
                                              dimension=self.embedder.dimension)
            return self._store

    def _manifest(self):
        if not (self.index_dir / "manifest.json").is_file():
            raise IndexNotFoundError(
                f"no index at {self.index_dir}; build one with "
                f"'qabot-index build KB_DIR --index {self.index_dir}'")
        return read_manifest(self.index_dir)

    def warm_up(self) -> None:
        self.embedder.embed(["warm up"])
        self.store.search(self.embed("warm up"), k=1)
        if self.mode != "dense":
            self.bm25  # noqa: B018  (loaded now, not on the first user's question)
        if self.reranker is not None and hasattr(self.reranker, "warm_up"):
            self.reranker.warm_up()

    def reload(self) -> None:
        """Open the index generation the manifest names now (after a rebuild)."""
        with self._lock:
            old, self._store, self._bm25 = self._store, None, None
        if old is not None:
            old.close()

    def embed(self, text: str) -> np.ndarray:
        return self.embedder.embed([text])[0]

    @property
    def bm25(self) -> BM25:
        store = self.store
        with self._lock:
            if self._bm25 is None:
                self._bm25 = store.bm25()
            return self._bm25

    def search(self, text: str, k: int = 5, *, mode: str | None = None,
               vector: np.ndarray | None = None, rerank: bool | None = None) -> list[SearchHit]:
        """Top-k passages for ``text`` in ``mode`` (default: the retriever's), reranked when the
        retriever has a reranker (``rerank=False``: not). The text is embedded with the index's
        model unless its ``vector`` is given (a caller that already embedded it, as the engine
        does for routing)."""
        reranker = self.reranker if rerank is not False else None
        if reranker is None:
            return self._search(text, k, mode, vector)
        candidates = self._search(text, max(k, self.rerank_candidates), mode, vector)
        return rerank_hits(reranker, text, candidates, k)

    def _search(self, text: str, k: int, mode: str | None,
                vector: np.ndarray | None) -> list[SearchHit]:
        mode = mode or self.mode
        if mode not in MODES:
            raise InvalidSettingError(f"retrieval mode must be one of {', '.join(MODES)}, "
                                      f"got {mode!r}")
        vector = self.embed(text) if vector is None else vector
        if mode == "dense":
            return self.store.search(vector, k)
        lexical = [i for i, _ in self.bm25.search(text, k * CANDIDATES)]
        if mode == "bm25":
            return self.store.passages(lexical[:k], vector)
        dense = [h.passage_id for h in self.store.search(vector, k * CANDIDATES)]
        fused = reciprocal_rank_fusion([dense, lexical], self.rrf_k,
                                       [self.dense_weight, 1.0])[:k]
        return self.store.passages([i for i, _ in fused], vector)

    def search_faq(self, text: str, k: int = 1, *, vector: np.ndarray | None = None
                   ) -> list[FaqHit]:
        """The k FAQ questions nearest to ``text`` (dense)."""
        return self.store.search_faq(self.embed(text) if vector is None else vector, k)

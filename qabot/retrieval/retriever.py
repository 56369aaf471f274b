"""Retriever over an IndexStore: embeds a query with the index's own model and searches.

Passages: ``dense`` (cosine over FAISS, with the index's model), ``bm25`` (Okapi BM25 over the same
passages: on first use, the index generation's saved BM25 index is loaded, or, for a generation
without a usable one, built in memory; see ``IndexStore.bm25``), or ``hybrid`` (both, fused by
weighted reciprocal rank); with a ``reranker``, the best ``rerank_candidates`` of that ranking
are reordered by the cross-encoder (``rerank.py``). Every hit is scored by its cosine
similarity to the query, whichever way it was found, so the reader's retriever fusion means the
same thing in every mode. FAQ questions: dense.

The store opens on first use. A newer index generation, committed by this process (``reload()``
after a reindex) or by another one (``qabot-index build``, another replica's /reindex), is
followed: at most once every ``WATCH_EVERY`` seconds a search reads the manifest, and when it
names another generation a background thread opens that one (its vectors and BM25 loaded) and
swaps it in; searches meanwhile use the old one, which the writer keeps (``keep_generations``).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from indexer.manifest import read_manifest
from indexer.store import FaqHit, IndexStore, SearchHit
from qabot.errors import IndexNotFoundError, InvalidSettingError
from qabot.retrieval.bm25 import BM25
from qabot.retrieval.fusion import reciprocal_rank_fusion
from qabot.retrieval.rerank import RERANK_CANDIDATES, Reranker
from qabot.retrieval.rerank import rerank as rerank_hits

log = logging.getLogger(__name__)

MODES = ("dense", "bm25", "hybrid")
WATCH_EVERY = 1.0  # seconds between looks at the manifest for a new generation
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
        self._looked_at = 0.0  # when the manifest was last read (time.monotonic)
        self._swapping: threading.Thread | None = None

    @property
    def embedder(self):
        if self._embedder is None:
            from indexer.embedding import embedder_for

            manifest = self._manifest()
            self._embedder = embedder_for(manifest.model_name, manifest.dimension)
        return self._embedder

    @property
    def store(self) -> IndexStore:
        self._follow_manifest()
        with self._lock:
            if self._store is None:
                self._store = self._open()
            return self._store

    def _open(self) -> IndexStore:
        self._manifest()
        return IndexStore.open(self.index_dir, model_name=self.embedder.model_name,
                               dimension=self.embedder.dimension)

    @property
    def generation(self) -> str | None:
        """The index generation searches read now (None before the first)."""
        store = self._store
        return store.manifest.generation if store is not None else None

    def refresh(self) -> None:
        """Look for a newer index generation now (a front end calls this while idle, so that
        a bot nobody asks still switches); searches look by themselves."""
        self._follow_manifest()

    def _follow_manifest(self) -> None:
        """Start swapping in the generation the manifest names, if it is a new one."""
        now = time.monotonic()
        if self._store is None or now - self._looked_at < WATCH_EVERY:
            return
        self._looked_at = now
        try:
            named = read_manifest(self.index_dir).generation
        except Exception:  # being replaced, or gone: keep serving the open generation
            return
        with self._lock:
            if (named == self.generation
                    or (self._swapping is not None and self._swapping.is_alive())):
                return
            self._swapping = threading.Thread(target=self._swap_in, name="qabot-index-swap",
                                              daemon=True)
            self._swapping.start()

    def _swap_in(self) -> None:
        """Open the manifest's generation, load what searches need, then make it current."""
        old = self.generation
        try:
            fresh = self._open()
            bm25 = fresh.bm25() if self.mode != "dense" else None
            fresh.search(np.zeros(self.embedder.dimension, np.float32), k=1)  # loads FAISS
        except Exception:
            log.exception("a new index generation was committed but cannot be opened; still "
                          "answering from %s", old)
            return
        with self._lock:
            stale, self._store, self._bm25 = self._store, fresh, bm25
        log.info("index generation %s -> %s", old, fresh.manifest.generation)
        if stale is not None:
            stale.close()

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
        """Open the index generation the manifest names now (after this process rebuilt it)."""
        with self._lock:
            old, self._store, self._bm25 = self._store, None, None
        if old is not None:
            old.close()

    def embed(self, text: str) -> np.ndarray:
        return self.embedder.embed([text])[0]

    @property
    def bm25(self) -> BM25:
        return self._snapshot(lexical=True)[1]

    def _snapshot(self, lexical: bool) -> tuple[IndexStore, BM25 | None]:
        """The store and its BM25 index, from one generation even while one is swapped in."""
        store = self.store
        with self._lock:
            if self._store is not store:  # swapped meanwhile: finish on the one in hand
                return store, store.bm25() if lexical else None
            if lexical and self._bm25 is None:
                self._bm25 = store.bm25()
            return store, self._bm25

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
        store, bm25 = self._snapshot(lexical=mode != "dense")
        if mode == "dense":
            return store.search(vector, k)
        lexical = [i for i, _ in bm25.search(text, k * CANDIDATES)]
        if mode == "bm25":
            return store.passages(lexical[:k], vector)
        dense = [h.passage_id for h in store.search(vector, k * CANDIDATES)]
        fused = reciprocal_rank_fusion([dense, lexical], self.rrf_k,
                                       [self.dense_weight, 1.0])[:k]
        return store.passages([i for i, _ in fused], vector)

    def unknown_words(self, text: str) -> int:
        """How many distinct words of ``text`` no passage of the knowledge base uses (the BM25
        vocabulary: loaded on first use in every mode)."""
        return len(self._snapshot(lexical=True)[1].unknown_terms(text))

    def search_faq(self, text: str, k: int = 1, *, vector: np.ndarray | None = None
                   ) -> list[FaqHit]:
        """The k FAQ questions nearest to ``text`` (dense)."""
        return self.store.search_faq(self.embed(text) if vector is None else vector, k)

"""Retriever over an IndexStore: embeds a query with the index's own model and searches.

Dense retrieval (all-MiniLM-L6-v2 cosine over FAISS) for passages and FAQ questions. The store
opens on first use and ``reload()`` picks up a newer index generation (after a reindex).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from indexer.store import FaqHit, IndexStore, SearchHit, read_manifest
from qabot.errors import QabotError


class IndexNotFoundError(QabotError):
    """There is no index where the settings point."""


class Retriever:
    def __init__(self, index_dir: str | Path, embedder=None):
        self.index_dir = Path(index_dir)
        self._embedder = embedder
        self._store: IndexStore | None = None
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

    def reload(self) -> None:
        """Open the index generation the manifest names now (after a rebuild)."""
        with self._lock:
            old, self._store = self._store, None
        if old is not None:
            old.close()

    def embed(self, text: str) -> np.ndarray:
        return self.embedder.embed([text])[0]

    def search(self, vector: np.ndarray, k: int = 5) -> list[SearchHit]:
        return self.store.search(vector, k)

    def search_faq(self, vector: np.ndarray, k: int = 1) -> list[FaqHit]:
        return self.store.search_faq(vector, k)

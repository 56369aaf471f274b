"""FAISS helpers: build, add, remove, search and convert ID-mapped inner-product indexes.

Vectors are L2-normalised, so inner product is cosine similarity. Every index is an
``IndexIDMap2`` whose ids are the SQLite row ids. ``flat`` is exact; ``hnsw`` is approximate
and much faster on large corpora. HNSW cannot delete in place, so removals rebuild the graph from
the stored vectors (reconstructed from the index itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.errors import InvalidSettingError

INDEX_TYPES = ("flat", "hnsw")


@dataclass(frozen=True)
class VectorIndexSpec:
    dimension: int
    index_type: str = "flat"
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 64

    def __post_init__(self) -> None:
        if self.index_type not in INDEX_TYPES:
            raise InvalidSettingError(
                f"index type must be one of {', '.join(INDEX_TYPES)}; got {self.index_type!r}"
            )
        if self.dimension <= 0:
            raise InvalidSettingError(f"dimension must be positive; got {self.dimension}")


def _faiss():
    import faiss

    return faiss


def new_index(spec: VectorIndexSpec):
    faiss = _faiss()
    if spec.index_type == "hnsw":
        base = faiss.IndexHNSWFlat(spec.dimension, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = spec.hnsw_ef_construction
        base.hnsw.efSearch = spec.hnsw_ef_search
    else:
        base = faiss.IndexFlatIP(spec.dimension)
    return faiss.IndexIDMap2(base)


def read_index(path: Path, spec: VectorIndexSpec):
    faiss = _faiss()
    index = faiss.read_index(str(path))
    if index.d != spec.dimension:
        from indexer.errors import IndexCorruptError

        raise IndexCorruptError(f"{path} has dimension {index.d}, manifest says {spec.dimension}")
    set_search_params(index, spec)
    return index


def write_index(index, path: Path) -> None:
    _faiss().write_index(index, str(path))


def set_search_params(index, spec: VectorIndexSpec) -> None:
    faiss = _faiss()
    base = faiss.downcast_index(index.index)
    if isinstance(base, faiss.IndexHNSW):
        base.hnsw.efSearch = spec.hnsw_ef_search


def index_kind(index) -> str:
    faiss = _faiss()
    return "hnsw" if isinstance(faiss.downcast_index(index.index), faiss.IndexHNSW) else "flat"


def ids_of(index) -> np.ndarray:
    return _faiss().vector_to_array(index.id_map).astype(np.int64)


def all_vectors(index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every entry, in internal order."""
    ids = ids_of(index)
    if len(ids) == 0:
        return ids, np.zeros((0, index.d), dtype=np.float32)
    return ids, index.index.reconstruct_n(0, index.ntotal)


def add(index, ids: np.ndarray, vectors: np.ndarray) -> None:
    if len(ids) == 0:
        return
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.shape != (len(ids), index.d):
        raise ValueError(f"expected vectors of shape ({len(ids)}, {index.d}), got {vectors.shape}")
    index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))


def remove(index, ids: np.ndarray, spec: VectorIndexSpec):
    """Remove ids; returns the index to use afterwards (a rebuilt one for HNSW)."""
    if len(ids) == 0:
        return index
    if index_kind(index) == "flat":
        index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))
        return index
    return rebuild(index, spec, drop=ids)


def rebuild(index, spec: VectorIndexSpec, drop: np.ndarray | None = None):
    """A fresh index of ``spec``'s type holding the same vectors (minus ``drop``)."""
    ids, vectors = all_vectors(index)
    if drop is not None and len(drop):
        keep = ~np.isin(ids, drop)
        ids, vectors = ids[keep], vectors[keep]
    fresh = new_index(spec)
    add(fresh, ids, vectors)
    return fresh


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of shape (n_queries, k'); k' = min(k, ntotal). Missing slots have id -1."""
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    if queries.shape[1] != index.d:
        raise InvalidSettingError(
            f"query vectors have dimension {queries.shape[1]}, the index has {index.d}"
        )
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    if len(queries) > 1:
        return index.search(queries, k)
    # One query: OpenMP threads only add overhead (flat search 2.6-3.8x faster on one thread).
    # OpenMP's thread count is per calling thread (its nthreads-var ICV), so switching it here
    # never changes another thread's searches and needs no lock (tests/test_sync.py checks).
    faiss = _faiss()
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k)
    finally:
        faiss.omp_set_num_threads(threads)

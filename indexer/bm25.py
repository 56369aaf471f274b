"""Okapi BM25 over passages, on the ``bm25s`` library, and its files in an index generation.

The index is ``bm25s``'s (scores precomputed per term into a sparse matrix) fed the terms of
``indexer.lexical.tokenize``. The writer builds it from every passage of a generation and saves
it into the generation's ``bm25/`` folder, so a reader loads it (0.05 s at 100k passages)
instead of tokenizing and indexing at start (21 s at 100k on 2 cores; BENCHMARKS.md section 8)::

    bm25/
        lexical.json         tokenizer version, k1, b, passage count, bm25s version
        passage_ids.npy      row -> passage id (int64), in passage id order
        *.index.npy          bm25s's score matrix (CSC data, indices, indptr) ...
        *.index.json         ... its vocabulary and parameters (absent when no passage has a term)

``BM25.load`` refuses (``BM25NotUsableError``, saying why) a folder that is missing, was written
by another tokenizer version or other k1/b, or does not cover exactly the given passage ids;
the caller then builds the index from the passages instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from indexer import lexical
from indexer.errors import BM25NotUsableError

BM25_DIR = "bm25"
META = "lexical.json"
IDS = "passage_ids.npy"
K1, B = 1.2, 0.75


class BM25:
    """Okapi BM25 (k1=1.2, b=0.75, Lucene's idf log(1 + (N - n + 0.5) / (n + 0.5))) over
    ``(id, text)`` documents, on ``bm25s``'s eager sparse index."""

    def __init__(self, documents: Iterable[tuple[int, str]] = (), k1: float = K1, b: float = B,
                 *, progress: bool = False):
        import bm25s  # ~0.2 s (scipy.sparse); paid by the first BM25 search, not at start

        self.k1, self.b = k1, b
        self.ids: list[int] = []
        self.loaded_from: Path | None = None  # the folder it was loaded from; None: built
        if progress:
            from tqdm.auto import tqdm

            documents = tqdm(documents, desc="BM25", unit="passage")
        corpus: list[list[str]] = []
        seen: dict[str, str] = {}  # one string object per distinct term: at 100k passages
        for doc_id, text in documents:  # the corpus is pointers, not 6M strings (~300 MB)
            self.ids.append(doc_id)
            corpus.append([seen.setdefault(term, term) for term in lexical.tokenize(text)])
        self._index = None
        if any(corpus):  # bm25s cannot index an empty vocabulary
            # "atire" term frequency = tf (k1 + 1) / (tf + k1 (1 - b + b len / avg len))
            self._index = bm25s.BM25(k1=k1, b=b, method="atire", idf_method="lucene")
            self._index.index(corpus, show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str) -> np.ndarray:
        """A BM25 score per document, in index order (a repeated query term counts once)."""
        terms = []
        if self._index is not None:
            terms = self._index.get_tokens_ids(list(dict.fromkeys(lexical.tokenize(query))))
        if not terms:
            return np.zeros(len(self.ids), dtype=np.float32)
        return self._index.get_scores_from_ids(terms)

    def unknown_terms(self, query: str) -> list[str]:
        """The distinct terms of ``query`` that no passage uses."""
        vocabulary = self._index.vocab_dict if self._index is not None else {}
        return [t for t in dict.fromkeys(lexical.tokenize(query)) if t not in vocabulary]

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The top ``k`` (id, score) with a positive score, best first; ties in index order."""
        scores = self.scores(query)
        if k <= 0 or not len(scores):
            return []
        if k < len(scores):  # everything scoring at least the k-th best, then an exact sort
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            rows = np.flatnonzero(scores >= max(kth, np.float32(1e-30)))
        else:
            rows = np.flatnonzero(scores > 0)
        top = rows[np.lexsort((rows, -scores[rows]))][:k]
        return [(self.ids[i], float(scores[i])) for i in top]

    # ------------------------------------------------------------------ files

    def save(self, folder: str | Path) -> None:
        """Write the index into ``folder`` (created; .npy + JSON, no pickle)."""
        import bm25s

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / IDS, np.asarray(self.ids, dtype=np.int64), allow_pickle=False)
        if self._index is not None:
            self._index.save(folder, show_progress=False)
        meta = {"tokenizer_version": lexical.TOKENIZER_VERSION, "k1": self.k1, "b": self.b,
                "passages": len(self.ids), "indexed": self._index is not None,
                "bm25s_version": bm25s.__version__}
        (folder / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path, passage_ids: Iterable[int] | np.ndarray,
             k1: float = K1, b: float = B) -> BM25:
        """The index saved in ``folder``, which must cover exactly ``passage_ids`` (in order)
        with this tokenizer version and these k1, b; else ``BM25NotUsableError`` says why."""
        import bm25s

        folder = Path(folder)
        meta = _read_meta(folder)
        if meta.get("tokenizer_version") != lexical.TOKENIZER_VERSION:
            raise BM25NotUsableError(
                f"{folder} was written by tokenizer version {meta.get('tokenizer_version')}; "
                f"this one is version {lexical.TOKENIZER_VERSION}")
        if (meta.get("k1"), meta.get("b")) != (k1, b):
            raise BM25NotUsableError(f"{folder} has k1={meta.get('k1')}, b={meta.get('b')}; "
                                     f"wanted k1={k1}, b={b}")
        wanted = np.asarray(list(passage_ids) if not isinstance(passage_ids, np.ndarray)
                            else passage_ids, dtype=np.int64)
        try:
            ids = np.load(folder / IDS, allow_pickle=False)
            index = (bm25s.BM25.load(folder, show_progress=False) if meta.get("indexed")
                     else None)
        except (OSError, ValueError, KeyError) as exc:
            raise BM25NotUsableError(f"unreadable BM25 index in {folder}: {exc}") from exc
        if not np.array_equal(ids, wanted):
            raise BM25NotUsableError(f"{folder} covers {len(ids)} passages, not the "
                                     f"{len(wanted)} passages of the store")
        if index is not None and int(index.scores["num_docs"]) != len(ids):
            raise BM25NotUsableError(f"{folder} is inconsistent: {index.scores['num_docs']} "
                                     f"documents in the matrix, {len(ids)} passage ids")
        bm25 = cls((), k1, b)
        bm25.ids = ids.tolist()
        bm25._index = index
        bm25.loaded_from = folder
        return bm25


def _read_meta(folder: Path) -> dict:
    path = folder / META
    if not path.is_file():
        raise BM25NotUsableError(f"no saved BM25 index in {folder.parent} (missing {BM25_DIR}/"
                                 f"{META}: an index written before BM25 was saved)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BM25NotUsableError(f"unreadable {path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise BM25NotUsableError(f"unreadable {path}: not a JSON object")
    return meta

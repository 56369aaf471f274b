"""IndexStore: one index directory, read side.

Layout of an index directory::

    manifest.json        the commit point: names the live generation, the model, the settings
    gen-000007/          one immutable generation
        passages.faiss   ID-mapped FAISS index of passage vectors
        faq.faiss        ID-mapped FAISS index of FAQ question vectors
        index.sqlite     files, passages and FAQ entries (row ids = FAISS ids)
        bm25/            the BM25 index of the passages (see ``bm25.py``; absent in
                         generations written before it was saved: readers build it then)
    .lock                held by the one writer (see ``writer.py``)

A generation is never modified after it is committed; a writer builds the next one aside and
switches ``manifest.json`` atomically, so a reader always sees a consistent pair of FAISS and
SQLite files.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from indexer.documents import Passage
from indexer.errors import IndexCorruptError
from indexer.manifest import Manifest, check_model, read_manifest

PASSAGES_FAISS = "passages.faiss"
FAQ_FAISS = "faq.faiss"
DATABASE = "index.sqlite"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchHit:
    """A retrieved passage: its row id, its score for the query, and the Passage itself (whose
    fields it also answers for: ``hit.text``, ``hit.source``, ``hit.location``, ...)."""

    passage_id: int
    score: float
    passage: Passage

    text = property(lambda self: self.passage.text)
    source = property(lambda self: self.passage.source)
    title = property(lambda self: self.passage.title)
    headings = property(lambda self: self.passage.headings)
    page = property(lambda self: self.passage.page)
    start = property(lambda self: self.passage.start)
    end = property(lambda self: self.passage.end)
    location = property(lambda self: self.passage.location)
    link = property(lambda self: self.passage.link)

    def to_dict(self) -> dict:
        """The flat JSON shape of ``qabot-index search --json``."""
        p = self.passage
        return {"passage_id": self.passage_id, "score": self.score, "text": p.text,
                "source": p.source, "title": p.title, "headings": list(p.headings),
                "page": p.page, "start": p.start, "end": p.end, "link": p.link}


@dataclass(frozen=True)
class FaqHit:
    faq_id: int
    score: float
    question: str
    answer: str
    source: str
    row: int
    category: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FileInfo:
    source: str
    sha256: str
    size: int
    passages: int
    faq_entries: int
    indexed_at: str


@dataclass(frozen=True)
class IndexStats:
    index_dir: str
    generation: str
    model_name: str
    dimension: int
    index_type: str
    files: int
    passages: int
    faq_entries: int
    bytes_on_disk: int
    updated_at: str
    knowledge_base: str | None = None
    file_list: tuple[FileInfo, ...] = field(default=())


class IndexStore:
    """Read access to the live generation of an index directory.

    Opening reads only the manifest; the FAISS files load on the first search, the database
    opens read-only. ``open`` checks the model when given, and that FAISS and SQLite agree.
    """

    def __init__(self, index_dir: Path, manifest: Manifest):
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        self.generation_dir = self.index_dir / manifest.generation
        self._engine = None
        self._passages = None
        self._faq = None
        self._has_links: bool | None = None

    @classmethod
    def open(
        cls, index_dir: str | Path, *, model_name: str | None = None, dimension: int | None = None
    ) -> IndexStore:
        index_dir = Path(index_dir)
        manifest = read_manifest(index_dir)
        if model_name is not None:
            check_model(manifest, model_name, dimension or manifest.dimension, index_dir)
        store = cls(index_dir, manifest)
        if not (store.generation_dir / DATABASE).is_file():
            raise IndexCorruptError(
                f"index at {index_dir} names generation {manifest.generation}, which is missing"
            )
        return store

    # ------------------------------------------------------------------ lazily loaded parts

    @property
    def engine(self):
        if self._engine is None:
            from indexer.schema import sqlite_engine

            self._engine = sqlite_engine(self.generation_dir / DATABASE, read_only=True)
        return self._engine

    @property
    def has_links(self) -> bool:
        """Whether this generation stores passages' links (generations written before format 2
        lack the column: their passages' ``link`` is None). Checked once."""
        if self._has_links is None:
            from indexer.schema import has_link_column

            self._has_links = has_link_column(self.engine)
        return self._has_links

    def _passage_select(self):
        """SELECT of whole passage rows, without the link column where the generation lacks it."""
        from sqlalchemy import select
        from sqlalchemy.orm import defer

        from indexer.schema import PassageRow

        query = select(PassageRow)
        return query if self.has_links else query.options(defer(PassageRow.link))

    def _hit(self, row, score: float) -> SearchHit:
        return SearchHit(row.id, score, Passage(
            source=row.source, title=row.title, text=row.text, start=row.start, end=row.end,
            headings=row.headings, page=row.page, link=row.link if self.has_links else None))

    def _vector_index(self, name: str):
        from indexer.vectors import read_index

        path = self.generation_dir / name
        if not path.is_file():
            raise IndexCorruptError(f"missing {path}")
        return read_index(path, self.manifest.vector_spec)

    @property
    def passage_index(self):
        if self._passages is None:
            self._passages = self._vector_index(PASSAGES_FAISS)
            self._check_agrees(self._passages, "passages")
        return self._passages

    @property
    def faq_index(self):
        if self._faq is None:
            self._faq = self._vector_index(FAQ_FAISS)
            self._check_agrees(self._faq, "faq_entries")
        return self._faq

    def _check_agrees(self, index, table: str) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
        if rows != index.ntotal:
            raise IndexCorruptError(
                f"index at {self.index_dir} is inconsistent: {index.ntotal} vectors but "
                f"{rows} rows in {table}"
            )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ queries

    def search(self, vector: np.ndarray, k: int = 5) -> list[SearchHit]:
        """Top-k passages for one query vector (L2-normalised), best first."""
        return self.search_many(np.atleast_2d(vector), k)[0]

    def search_many(self, vectors: np.ndarray, k: int = 5) -> list[list[SearchHit]]:
        from indexer.schema import PassageRow
        from indexer.vectors import search

        scores, ids = search(self.passage_index, vectors, k)
        rows = self._rows(PassageRow, ids)
        return [
            [self._hit(rows[int(i)], float(s)) for s, i in zip(srow, irow) if int(i) in rows]
            for srow, irow in zip(scores, ids)
        ]

    def search_faq(self, vector: np.ndarray, k: int = 5) -> list[FaqHit]:
        from indexer.schema import FaqRow
        from indexer.vectors import search

        scores, ids = search(self.faq_index, np.atleast_2d(vector), k)
        rows = self._rows(FaqRow, ids)
        return [
            FaqHit(r.id, float(s), r.question, r.answer, r.source, r.row, r.category)
            for s, i in zip(scores[0], ids[0])
            if (r := rows.get(int(i))) is not None
        ]

    def _rows(self, model, ids: np.ndarray) -> dict:
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from indexer.schema import PassageRow

        wanted = sorted({int(i) for i in ids.ravel() if i >= 0})
        if not wanted:
            return {}
        query = self._passage_select() if model is PassageRow else select(model)
        with Session(self.engine) as session:
            found = session.scalars(query.where(model.id.in_(wanted))).all()
            session.expunge_all()
        return {row.id: row for row in found}

    def passage(self, passage_id: int) -> SearchHit | None:
        from indexer.schema import PassageRow

        row = self._rows(PassageRow, np.array([passage_id])).get(passage_id)
        return self._hit(row, 1.0) if row else None

    def passages(self, passage_ids, vector: np.ndarray | None = None) -> list[SearchHit]:
        """The passages with these ids, in that order (unknown ids skipped); scored by cosine
        similarity to ``vector`` (from the stored vectors) when given, else 1.0."""
        from indexer.schema import PassageRow

        ids = np.asarray(list(passage_ids), dtype=np.int64)
        rows = self._rows(PassageRow, ids)
        hits = []
        for passage_id in ids.tolist():
            row = rows.get(passage_id)
            if row is None:
                continue
            score = 1.0
            if vector is not None:
                stored = self.passage_index.reconstruct(passage_id)
                score = float(np.dot(stored, np.asarray(vector, dtype=np.float32).ravel()))
            hits.append(self._hit(row, score))
        return hits

    def iter_passages(self):
        """Every passage as a SearchHit (score 1.0), in id order."""
        from sqlalchemy.orm import Session

        from indexer.schema import PassageRow

        with Session(self.engine) as session:
            for row in session.scalars(self._passage_select().order_by(PassageRow.id)):
                yield self._hit(row, 1.0)

    def passage_ids(self) -> np.ndarray:
        """Every passage id, in id order (int64)."""
        from sqlalchemy import text

        with self.engine.connect() as conn:
            ids = conn.execute(text("SELECT id FROM passages ORDER BY id")).scalars().all()
        return np.asarray(ids, dtype=np.int64)

    def bm25(self):
        """The generation's BM25 index: loaded from its ``bm25/`` folder when that is usable
        (same tokenizer version, exactly this generation's passages), else built from the
        passages (generations written before BM25 was saved; ~0.2 s per thousand passages)."""
        from indexer.bm25 import BM25, BM25_DIR
        from indexer.errors import BM25NotUsableError
        from indexer.lexical import passage_text

        try:
            return BM25.load(self.generation_dir / BM25_DIR, self.passage_ids())
        except BM25NotUsableError as exc:
            log.info("building the BM25 index in memory: %s", exc)
        return BM25((h.passage_id, passage_text(h.title, h.headings, h.text))
                    for h in self.iter_passages())

    def files(self) -> list[FileInfo]:
        from sqlalchemy import func, select
        from sqlalchemy.orm import Session

        from indexer.schema import FaqRow, FileRow, PassageRow

        n_pass = (
            select(PassageRow.file_id, func.count().label("n"))
            .group_by(PassageRow.file_id)
            .subquery()
        )
        n_faq = select(FaqRow.file_id, func.count().label("n")).group_by(FaqRow.file_id).subquery()
        query = (
            select(FileRow, func.coalesce(n_pass.c.n, 0), func.coalesce(n_faq.c.n, 0))
            .outerjoin(n_pass, n_pass.c.file_id == FileRow.id)
            .outerjoin(n_faq, n_faq.c.file_id == FileRow.id)
            .order_by(FileRow.source)
        )
        with Session(self.engine) as session:
            return [
                FileInfo(f.source, f.sha256, f.size, int(p), int(q), f.indexed_at)
                for f, p, q in session.execute(query)
            ]

    def file_hashes(self) -> dict[str, str]:
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from indexer.schema import FileRow

        with Session(self.engine) as session:
            return {s: h for s, h in session.execute(select(FileRow.source, FileRow.sha256))}

    def stats(self, *, with_files: bool = False) -> IndexStats:
        m = self.manifest
        size = sum(p.stat().st_size for p in self.generation_dir.rglob("*") if p.is_file())
        return IndexStats(
            index_dir=str(self.index_dir),
            generation=m.generation,
            model_name=m.model_name,
            dimension=m.dimension,
            index_type=m.index_type,
            files=m.files,
            passages=m.passages,
            faq_entries=m.faq_entries,
            bytes_on_disk=size,
            updated_at=m.updated_at,
            knowledge_base=m.knowledge_base,
            file_list=tuple(self.files()) if with_files else (),
        )

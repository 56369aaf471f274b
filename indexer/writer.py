"""IndexWriter: the one way to change an index, atomically and under a lock.

A writer
1. takes ``.lock`` (non-blocking: a second writer gets ``IndexLockedError``),
2. removes leftovers of crashed writers (staging folders, uncommitted generations),
3. copies the live generation's database into a staging folder and loads its FAISS indexes,
4. applies add/remove operations to the staged copies,
5. on ``commit``: builds the BM25 index of all the staged passages (``bm25.py``; about 0.2 s
   per thousand passages), writes and fsyncs the staged files with it, renames the folder to
   the next generation, then atomically replaces ``manifest.json`` — the single commit point,
6. deletes superseded generations beyond its ``Retention``: the last ``keep`` generations
   stay, and so does any generation replaced less than ``minutes`` ago, so that a reader
   (every replica of the bot follows the manifest) still answering from it is never cut off.
A crash before step 5's rename of the manifest leaves the previous generation live and intact.

A staged copy of a database written by an earlier format gets this format's columns
(``schema.upgrade_schema``), but the generation keeps the earlier ``format_version`` unless the
caller re-read every file (``format_version=FORMAT_VERSION``): changes alone do not fill the
links of files they did not touch.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.bm25 import BM25, BM25_DIR
from indexer.documents import FaqEntry, Passage
from indexer.errors import InvalidSettingError
from indexer.fsutil import fsync_dir, fsync_tree, remove_tree
from indexer.generations import (
    FileRecord,
    IndexLock,
    generation_name,
    generation_number,
    now_iso,
)
from indexer.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    Manifest,
    read_manifest,
    write_manifest_atomic,
)
from indexer.store import DATABASE, FAQ_FAISS, PASSAGES_FAISS
from indexer.vectors import VectorIndexSpec


@dataclass(frozen=True)
class Retention:
    """Which superseded generations a writer keeps: the newest ``keep`` (the live one
    included), and any replaced less than ``minutes`` ago."""

    keep: int = 3
    minutes: float = 10.0

    def __post_init__(self) -> None:
        if self.keep < 2 or self.minutes < 0:
            raise InvalidSettingError(
                f"keep at least 2 generations (the live one and the one before) for a "
                f"non-negative time; got {self.keep} and {self.minutes} min")


class IndexWriter:
    """Stage changes to an index and commit them as a new generation.

    Use as a context manager: the lock is held from ``__enter__`` to ``__exit__``; leaving the
    block without ``commit()`` (or with an exception) discards the staged changes.
    """

    def __init__(
        self,
        index_dir: str | Path,
        *,
        model_name: str,
        dimension: int,
        spec: VectorIndexSpec | None = None,
        max_tokens: int = 160,
        overlap_tokens: int = 32,
        knowledge_base: str | None = None,
        fresh: bool = False,  # start empty instead of from the live generation (full rebuild)
        lock: IndexLock | None = None,
        progress: bool = False,  # a progress bar while the BM25 index is built
        retention: Retention | None = None,
        # the format the new generation claims; None: this version's for a new or fresh index,
        # else the previous generation's (see the module doc)
        format_version: int | None = None,
    ):
        self.index_dir = Path(index_dir)
        self.format_version = format_version
        self.fresh = fresh
        self.progress = progress
        self.retention = retention or Retention()
        self.model_name = model_name
        self.dimension = dimension
        self.spec = spec or VectorIndexSpec(dimension=dimension)
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.knowledge_base = knowledge_base
        self._own_lock = lock is None  # a lock passed in is already held by the caller
        self._lock = lock or IndexLock(self.index_dir)
        self.previous: Manifest | None = None
        self.staging: Path | None = None
        self._engine = None
        self._session = None
        self._passages = None
        self._faq = None
        self.dirty = False  # anything staged that differs from the live generation
        self._dropped_passages: list[int] = []
        self._dropped_faq: list[int] = []

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> IndexWriter:
        if self._own_lock:
            self._lock.acquire()
        try:
            self._open()
        except BaseException:
            self._discard()
            if self._own_lock:
                self._lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._discard()
        finally:
            if self._own_lock:
                self._lock.release()

    def _open(self) -> None:
        from sqlalchemy.orm import Session

        from indexer.schema import Base, sqlite_engine, upgrade_schema
        from indexer.vectors import new_index, read_index

        self.index_dir.mkdir(parents=True, exist_ok=True)
        manifest_path = self.index_dir / MANIFEST
        self.previous = read_manifest(self.index_dir) if manifest_path.exists() else None
        self._collect_garbage()
        self.staging = self.index_dir / f".staging-{uuid.uuid4().hex[:12]}"
        self.staging.mkdir()
        if self.previous is not None and not self.fresh:
            live = self.index_dir / self.previous.generation
            shutil.copyfile(live / DATABASE, self.staging / DATABASE)
            old_spec = self.previous.vector_spec
            self._passages = read_index(live / PASSAGES_FAISS, old_spec)
            self._faq = read_index(live / FAQ_FAISS, old_spec)
        else:
            self._passages = new_index(self.spec)
            self._faq = new_index(self.spec)
        self._engine = sqlite_engine(self.staging / DATABASE, read_only=False)
        Base.metadata.create_all(self._engine)
        upgrade_schema(self._engine)
        self._session = Session(self._engine)

    def _collect_garbage(self) -> None:
        """Remove staging folders, crashed writers' uncommitted generations, and superseded
        generations beyond the retention (a reader that opened one keeps its open files)."""
        live = generation_number(self.previous.generation) if self.previous else -1
        generations = {}
        for child in self.index_dir.iterdir():
            if child.name.startswith(".staging-") and child.is_dir():
                remove_tree(child)
            number = generation_number(child.name)
            if number >= 0 and child.is_dir():
                generations[number] = child
        kept = sorted((n for n in generations if n <= live), reverse=True)[
            :self.retention.keep]
        for number, folder in generations.items():
            if number > live:  # newer than live: a crashed writer's uncommitted generation
                remove_tree(folder)
            elif number not in kept and self._replaced_long_ago(generations, number):
                remove_tree(folder)

    def _replaced_long_ago(self, generations: dict[int, Path], number: int) -> bool:
        """Whether the generation after ``number`` was committed over ``minutes`` ago (its
        database is written last thing before the commit)."""
        successor = generations.get(number + 1)
        if successor is None or not (successor / DATABASE).exists():
            return True
        age = time.time() - (successor / DATABASE).stat().st_mtime
        return age > self.retention.minutes * 60

    def _discard(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self.staging is not None and self.staging.exists():
            remove_tree(self.staging)
        self.staging = None

    # ------------------------------------------------------------------ changes

    def remove_file(self, source: str) -> tuple[int, int]:
        """Drop a file's passages and FAQ entries. Returns (passages, faq entries) removed."""
        from sqlalchemy import delete, select

        from indexer.schema import FaqRow, FileRow, PassageRow

        s = self._session
        file_id = s.scalar(select(FileRow.id).where(FileRow.source == source))
        if file_id is None:
            return 0, 0
        passage_ids = list(s.scalars(select(PassageRow.id).where(PassageRow.file_id == file_id)))
        faq_ids = list(s.scalars(select(FaqRow.id).where(FaqRow.file_id == file_id)))
        s.execute(delete(PassageRow).where(PassageRow.file_id == file_id))
        s.execute(delete(FaqRow).where(FaqRow.file_id == file_id))
        s.execute(delete(FileRow).where(FileRow.id == file_id))
        s.flush()
        self.dirty = True
        self._dropped_passages += passage_ids
        self._dropped_faq += faq_ids
        return len(passage_ids), len(faq_ids)

    def add_file(
        self,
        record: FileRecord,
        passages: list[Passage],
        passage_vectors: np.ndarray,
        faqs: list[FaqEntry] = (),
        faq_vectors: np.ndarray | None = None,
    ) -> tuple[int, int]:
        """Insert a file with its passages and FAQ entries and their vectors, replacing any
        previous version of the same source. Returns what was replaced, as ``remove_file``."""
        from indexer.schema import FaqRow, FileRow, PassageRow
        from indexer.vectors import add

        replaced = self.remove_file(record.source)
        s = self._session
        row = FileRow(source=record.source, sha256=record.sha256, size=record.size,
                      indexed_at=now_iso())
        s.add(row)
        s.flush()
        p_rows = [
            PassageRow(file_id=row.id, source=p.source, title=p.title,
                       headings_json=json.dumps(list(p.headings), ensure_ascii=False),
                       page=p.page, start=p.start, end=p.end, n_tokens=p.n_tokens, text=p.text,
                       link=p.link)
            for p in passages
        ]
        f_rows = [
            FaqRow(file_id=row.id, source=f.source, row=f.row, question=f.question,
                   answer=f.answer, category=f.category)
            for f in faqs
        ]
        s.add_all(p_rows + f_rows)
        s.flush()
        self.dirty = True
        add(self._passages, np.array([r.id for r in p_rows], dtype=np.int64), passage_vectors)
        if f_rows:
            add(self._faq, np.array([r.id for r in f_rows], dtype=np.int64), faq_vectors)
        return replaced

    # ------------------------------------------------------------------ commit

    def commit(self) -> Manifest:
        """Write the staged generation and make it live. Returns the new manifest."""
        lexical = self._build_bm25()
        counts = self._close_database()
        self._write_bm25(lexical, counts)
        self._write_vectors(counts)
        name = self._move_into_place()
        manifest = self._manifest(name, counts)
        write_manifest_atomic(self.index_dir, manifest)  # <- the commit point
        previous, self.previous = self.previous, manifest
        if previous is not None:
            self._collect_garbage()
        return manifest

    def _build_bm25(self) -> BM25:
        """The BM25 index of every staged passage, in id order (as ``IndexStore.bm25`` builds
        it for a generation without one)."""
        from sqlalchemy import select

        from indexer.lexical import passage_text
        from indexer.schema import PassageRow

        rows = self._session.execute(
            select(PassageRow.id, PassageRow.title, PassageRow.headings_json, PassageRow.text)
            .order_by(PassageRow.id))
        return BM25(((i, passage_text(title, json.loads(headings), text))
                     for i, title, headings, text in rows), progress=self.progress)

    def _write_bm25(self, bm25: BM25, counts: tuple[int, int, int]) -> None:
        """The staged ``bm25/`` folder (fsynced with the vectors, in ``_write_vectors``)."""
        if len(bm25) != counts[1]:
            raise AssertionError(  # a bug, never user error
                f"staged BM25 index disagrees: {len(bm25)} documents vs {counts[1]} passages")
        bm25.save(self.staging / BM25_DIR)

    def _close_database(self) -> tuple[int, int, int]:
        """Commit the staged SQLite database; (files, passages, FAQ entries) in it."""
        from sqlalchemy import func, select

        from indexer.schema import FaqRow, FileRow, PassageRow

        s = self._session
        counts = tuple(int(s.scalar(select(func.count()).select_from(table)))
                       for table in (FileRow, PassageRow, FaqRow))
        s.commit()
        s.close()
        self._session = None
        self._engine.dispose()
        self._engine = None
        return counts

    def _write_vectors(self, counts: tuple[int, int, int]) -> None:
        """The staged FAISS files, checked against the database's row counts, fsynced."""
        from indexer.vectors import index_kind, rebuild, remove, write_index

        passages = remove(self._passages, np.array(self._dropped_passages, np.int64), self.spec)
        faq = remove(self._faq, np.array(self._dropped_faq, np.int64), self.spec)
        if index_kind(passages) != self.spec.index_type:
            passages = rebuild(passages, self.spec)
        if index_kind(faq) != self.spec.index_type:
            faq = rebuild(faq, self.spec)
        if passages.ntotal != counts[1] or faq.ntotal != counts[2]:
            raise AssertionError(  # a bug, never user error: refuse to commit a broken pair
                f"staged index disagrees: {passages.ntotal} vectors vs {counts[1]} passages, "
                f"{faq.ntotal} vs {counts[2]} FAQ entries"
            )
        write_index(passages, self.staging / PASSAGES_FAISS)
        write_index(faq, self.staging / FAQ_FAISS)
        fsync_tree(self.staging)

    def _move_into_place(self) -> str:
        """Rename the staging folder to the next generation's name; returns that name."""
        number = generation_number(self.previous.generation) + 1 if self.previous else 1
        name = generation_name(number)
        target = self.index_dir / name
        if target.exists():  # leftover of a crash between rename and manifest switch
            remove_tree(target)
        self.staging.rename(target)
        self.staging = None
        fsync_dir(self.index_dir)
        return name

    def _manifest(self, name: str, counts: tuple[int, int, int]) -> Manifest:
        stamp = now_iso()
        previous = self.previous
        return Manifest(
            generation=name,
            model_name=self.model_name,
            dimension=self.dimension,
            index_type=self.spec.index_type,
            hnsw_m=self.spec.hnsw_m,
            hnsw_ef_search=self.spec.hnsw_ef_search,
            max_tokens=self.max_tokens,
            overlap_tokens=self.overlap_tokens,
            knowledge_base=self.knowledge_base or (previous.knowledge_base if previous else None),
            files=counts[0],
            passages=counts[1],
            faq_entries=counts[2],
            created_at=previous.created_at if previous else stamp,
            updated_at=stamp,
            format_version=self._format_version(),
        )

    def _format_version(self) -> int:
        if self.format_version is not None:
            return self.format_version
        if self.previous is None or self.fresh:
            return FORMAT_VERSION
        return self.previous.format_version

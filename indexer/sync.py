"""Knowledge-base folder -> index, incrementally by content hash.

``build`` hashes every file (no model needed), compares with the index, and only when something
changed loads, chunks and embeds the added/changed files, removes the passages of deleted files,
and commits the result as one new generation (see ``writer.py``). A file that fails to load is
reported and skipped; if an older version of it is indexed, that version stays.

A folder with nothing to index (empty, only ignored files, or every supported file skipped) is a
``NoIndexableFilesError``, and the build writes nothing: no index folder is created, and an
existing index stays as it is, old versions and removed files included (a knowledge base emptied
or garbled by mistake does not empty the index the bot answers from; ``qabot-index remove``
empties an index on purpose).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from indexer.chunking import ChunkSettings, chunk_documents
from indexer.documents import FaqEntry, Passage
from indexer.embedding import Embedder
from indexer.errors import (
    KnowledgeBaseNotFoundError,
    LoadError,
    ModelMismatchError,
    NoIndexableFilesError,
)
from indexer.generations import LOCK, FileRecord, IndexLock
from indexer.loaders import SUPPORTED_TYPES, discover, load_file, source_name
from indexer.manifest import (
    FORMAT_VERSION,
    LINKS_FORMAT,
    MANIFEST,
    Manifest,
    check_model,
    read_manifest,
)
from indexer.store import IndexStore
from indexer.vectors import VectorIndexSpec
from indexer.writer import IndexWriter, Retention


@dataclass(frozen=True)
class FileFailure:
    source: str
    reason: str


@dataclass(frozen=True)
class SyncPlan:
    """What a build would do, from content hashes alone."""

    knowledge_base: str
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # files of unsupported types
    unreadable: tuple[FileFailure, ...] = ()  # supported files that could not be hashed
    records: dict[str, FileRecord] = field(default_factory=dict)
    rebuild_reason: str | None = None
    reindex_vectors: bool = False  # only the FAISS index type changes: no re-embedding

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.reindex_vectors)

    @property
    def files(self) -> int:
        """The supported files of the folder that could be read (hashed)."""
        return len(self.added) + len(self.updated) + len(self.unchanged)


@dataclass
class SyncReport:
    plan: SyncPlan
    dry_run: bool = False
    failures: list[FileFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    passages_added: int = 0
    passages_removed: int = 0
    faq_added: int = 0
    faq_removed: int = 0
    embedded: int = 0
    seconds: float = 0.0
    manifest: Manifest | None = None

    @property
    def committed(self) -> bool:
        return self.manifest is not None


def hash_file(path: Path) -> FileRecord:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return FileRecord(source="", sha256=digest.hexdigest(), size=size)


def check_kb_dir(kb_dir: Path) -> None:
    if not kb_dir.exists():
        raise KnowledgeBaseNotFoundError(f"knowledge-base folder not found: {kb_dir}")
    if not kb_dir.is_dir():
        raise KnowledgeBaseNotFoundError(f"not a folder: {kb_dir}")


def scan(kb_dir: Path) -> tuple[dict[str, tuple[Path, FileRecord]], list[str]]:
    """Hash every supported file: {source: (path, record)}, and the unsupported file names."""
    files, ignored, _ = _scan(kb_dir)
    return files, ignored


def _scan(kb_dir: Path) -> tuple[dict[str, tuple[Path, FileRecord]], list[str],
                                 list[FileFailure]]:
    """``scan``, and the supported files that could not be read."""
    check_kb_dir(kb_dir)
    supported, unsupported = discover(kb_dir)
    files = {}
    unreadable = []
    for path in supported:
        source = source_name(path, kb_dir)
        try:
            record = hash_file(path)
        except OSError as exc:
            unreadable.append(FileFailure(source, f"cannot read file ({exc.strerror or exc})"))
            continue
        files[source] = (path, FileRecord(source, record.sha256, record.size))
    return files, [source_name(p, kb_dir) for p in unsupported], unreadable


SHOWN = 3  # files named in a NoIndexableFilesError, of each kind


def no_indexable_files(kb_dir: Path, ignored: list[str],
                       skipped: list[FileFailure]) -> NoIndexableFilesError:
    """The one-line error for a folder with nothing to index: the counts, the first skipped
    files with their reasons, the first ignored files, and the supported types."""
    types = " ".join(SUPPORTED_TYPES)
    if not ignored and not skipped:
        help_text = f"the folder is empty; add files of a supported type: {types}"
    else:
        parts = [f"{f.source}: {f.reason}" for f in skipped[:SHOWN]]
        if len(skipped) > SHOWN:
            parts.append(f"and {len(skipped) - SHOWN} more skipped")
        if ignored:
            more = f" and {len(ignored) - SHOWN} more" if len(ignored) > SHOWN else ""
            parts.append(f"ignored (unsupported type or hidden): {', '.join(ignored[:SHOWN])}"
                         f"{more}")
        parts.append(f"supported types: {types}")
        help_text = "; ".join(parts)
    return NoIndexableFilesError(
        f"no indexable files in {kb_dir} ({len(ignored)} ignored, {len(skipped)} skipped): "
        f"{help_text}", ignored=len(ignored), skipped=len(skipped))


def _ignored_names(kb_dir: Path) -> list[str]:
    """The files a build ignores: unsupported types, links out of the folder, hidden files and
    folders (a hidden folder counts once, with a trailing '/')."""
    hidden: list[Path] = []
    _, unsupported = discover(kb_dir, hidden)
    return [source_name(p, kb_dir) for p in unsupported] + [
        source_name(p, kb_dir) + ("/" if p.is_dir() and not p.is_symlink() else "")
        for p in hidden]


def check_indexable(kb_dir: Path) -> None:
    """Raise ``NoIndexableFilesError`` when the folder holds no file of a supported type (a
    listing, nothing read)."""
    check_kb_dir(kb_dir)
    supported, _ = discover(kb_dir)
    if not supported:
        raise no_indexable_files(kb_dir, _ignored_names(kb_dir), [])


def plan_sync(
    kb_dir: Path,
    indexed: dict[str, str],
    *,
    rebuild_reason: str | None = None,
    reindex_vectors: bool = False,
) -> tuple[SyncPlan, dict[str, Path]]:
    """Compare the folder's content hashes with ``indexed`` ({source: sha256})."""
    files, ignored, unreadable = _scan(kb_dir)
    added, updated, unchanged = [], [], []
    for source, (_, record) in sorted(files.items()):
        if source not in indexed:
            added.append(source)
        elif rebuild_reason or indexed[source] != record.sha256:
            updated.append(source)
        else:
            unchanged.append(source)
    # an unreadable file is skipped, not removed: its indexed version stays, as for a file
    # that fails to load
    removed = sorted(set(indexed) - set(files) - {f.source for f in unreadable})
    plan = SyncPlan(
        knowledge_base=str(kb_dir.resolve()),
        added=tuple(added),
        updated=tuple(updated),
        removed=tuple(removed),
        unchanged=tuple(unchanged),
        ignored=tuple(ignored),
        unreadable=tuple(unreadable),
        records={s: r for s, (_, r) in files.items()},
        rebuild_reason=rebuild_reason,
        reindex_vectors=reindex_vectors,
    )
    return plan, {s: p for s, (p, _) in files.items()}


def _indexed_state(index_dir: Path) -> tuple[Manifest | None, dict[str, str]]:
    if not (index_dir / MANIFEST).exists():
        return None, {}
    manifest = read_manifest(index_dir)
    store = IndexStore.open(index_dir)
    try:
        return manifest, store.file_hashes()
    finally:
        store.close()


def build(
    kb_dir: str | Path,
    index_dir: str | Path,
    embedder: Embedder,
    *,
    chunking: ChunkSettings | None = None,
    index_type: str | None = None,
    rebuild: bool = False,
    dry_run: bool = False,
    progress: bool = False,
    on_plan: Callable[[SyncPlan], None] | None = None,
    retention: Retention | None = None,
) -> SyncReport:
    """Bring the index at ``index_dir`` in line with the folder ``kb_dir``. ``chunking``
    None keeps the index's own chunk settings (the defaults for a new index): only an explicit
    change re-chunks every file. Raises ``NoIndexableFilesError`` (and changes nothing) when
    the folder has no file to index or the index would hold none."""
    started = time.perf_counter()
    kb_dir, index_dir = Path(kb_dir), Path(index_dir)
    check_indexable(kb_dir)  # before the lock, which would create the index folder
    created = _missing_folders(index_dir)
    lock = None if dry_run else IndexLock(index_dir)
    if lock is not None:
        lock.acquire()
    try:
        manifest, indexed = _indexed_state(index_dir)
        if chunking is None:
            chunking = (ChunkSettings(max_tokens=manifest.max_tokens,
                                      overlap_tokens=manifest.overlap_tokens)
                        if manifest is not None and not rebuild else ChunkSettings())
        reason, index_type = _settings_change(manifest, embedder, chunking, index_type, rebuild,
                                              index_dir)
        plan, paths = plan_sync(
            kb_dir,
            indexed,
            rebuild_reason=reason,
            reindex_vectors=manifest is not None and manifest.index_type != index_type,
        )
        if not plan.files:  # every supported file vanished or is unreadable
            raise no_indexable_files(kb_dir, _ignored_names(kb_dir), list(plan.unreadable))
        if on_plan is not None:
            on_plan(plan)
        report = SyncReport(plan=plan, dry_run=dry_run, failures=list(plan.unreadable))
        if dry_run or not plan.has_changes:
            report.seconds = time.perf_counter() - started
            return report
        spec = VectorIndexSpec(dimension=embedder.dimension, index_type=index_type)
        with IndexWriter(
            index_dir,
            model_name=embedder.model_name,
            dimension=embedder.dimension,
            spec=spec,
            max_tokens=chunking.max_tokens,
            overlap_tokens=chunking.overlap_tokens,
            knowledge_base=plan.knowledge_base,
            fresh=rebuild,
            lock=lock,
            progress=progress,
            retention=retention,
            # every file re-read: the generation is this version's format whatever it was
            format_version=FORMAT_VERSION if plan.rebuild_reason else None,
        ) as writer:
            _apply(plan, paths, writer, embedder, chunking, report, progress)
            loaded = len(plan.added) + len(plan.updated) - (
                len(report.failures) - len(plan.unreadable))
            if not plan.unchanged and not loaded:  # no file of the folder could be read
                raise no_indexable_files(kb_dir, _ignored_names(kb_dir), report.failures)
            if writer.dirty or plan.reindex_vectors or plan.rebuild_reason:
                report.manifest = writer.commit()
            # else: every planned file failed to load; the live generation stays as it is
        report.seconds = time.perf_counter() - started
        return report
    finally:
        if lock is not None:
            lock.release()
            if created and not (index_dir / MANIFEST).exists():
                _remove_new_folders(index_dir, created)


def _missing_folders(index_dir: Path) -> list[Path]:
    """The index folder and those of its parents that do not exist yet, deepest first."""
    missing = []
    folder = index_dir.absolute()
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_new_folders(index_dir: Path, created: list[Path]) -> None:
    """Undo what a build that committed nothing created: its lock file and the (empty)
    folders. A folder something else was written into meanwhile stays."""
    try:
        (index_dir / LOCK).unlink(missing_ok=True)
        for folder in created:
            os.rmdir(folder)
    except OSError:
        pass


def _settings_change(
    manifest: Manifest | None,
    embedder: Embedder,
    chunking: ChunkSettings,
    index_type: str | None,
    rebuild: bool,
    index_dir: Path,
) -> tuple[str | None, str]:
    """(reason to re-chunk every file or None, the index type to use)."""
    if manifest is None:
        return None, index_type or "flat"
    index_type = index_type or manifest.index_type
    if rebuild:
        return "--rebuild", index_type
    try:
        check_model(manifest, embedder.model_name, embedder.dimension, index_dir)
    except ModelMismatchError as exc:
        raise ModelMismatchError(f"{exc} (pass --rebuild to re-embed everything)") from None
    if (manifest.max_tokens, manifest.overlap_tokens) != (
        chunking.max_tokens,
        chunking.overlap_tokens,
    ):
        return (
            f"chunking changed from {manifest.max_tokens}/{manifest.overlap_tokens} to "
            f"{chunking.max_tokens}/{chunking.overlap_tokens} tokens (size/overlap)",
            index_type,
        )
    if manifest.format_version < LINKS_FORMAT:
        return (f"the index predates public links (format {manifest.format_version}): "
                "every file is re-read", index_type)
    return None, index_type


BATCH_TEXTS = 2048  # texts embedded and written per batch: memory stays flat as corpora grow


def _apply(
    plan: SyncPlan,
    paths: dict[str, Path],
    writer: IndexWriter,
    embedder: Embedder,
    chunking: ChunkSettings,
    report: SyncReport,
    progress: bool,
) -> None:
    """Remove deleted files, then read, chunk, embed and stage added and changed files a
    batch at a time (``BATCH_TEXTS``): only one batch's texts and vectors are held at once."""
    from tqdm.auto import tqdm

    for source in plan.removed:
        n_pass, n_faq = writer.remove_file(source)
        report.passages_removed += n_pass
        report.faq_removed += n_faq

    todo = list(plan.added) + list(plan.updated)
    batch: list[tuple[str, list[Passage], list[FaqEntry]]] = []
    with tqdm(total=len(todo), desc="Indexing", unit="file",
              disable=not progress or not todo) as bar:
        for source in todo:
            try:
                result = load_file(paths[source], source)
                passages = chunk_documents(result.documents, embedder.token_spans, chunking)
                if not passages and not result.faqs:
                    raise LoadError(source, "no indexable text")
            except LoadError as exc:
                report.failures.append(FileFailure(source, exc.reason))
                bar.update(1)
                continue
            report.warnings += [f"{source}: {w}" for w in result.warnings]
            batch.append((source, passages, list(result.faqs)))
            if sum(len(ps) + len(fs) for _, ps, fs in batch) >= BATCH_TEXTS:
                _stage(batch, plan, writer, embedder, report)
                bar.update(len(batch))
                batch = []
        if batch:
            _stage(batch, plan, writer, embedder, report)
            bar.update(len(batch))


def _stage(batch: list[tuple[str, list[Passage], list[FaqEntry]]], plan: SyncPlan,
           writer: IndexWriter, embedder: Embedder, report: SyncReport) -> None:
    """Embed one batch of files' passages and FAQ questions and stage them, file by file."""
    texts = [p.embedding_text for _, ps, _ in batch for p in ps]
    texts += [f.question for _, _, fs in batch for f in fs]
    vectors = embedder.embed(texts)
    report.embedded += len(texts)
    p_at, f_at = 0, sum(len(ps) for _, ps, _ in batch)
    for source, passages, faqs in batch:
        n_pass, n_faq = writer.add_file(
            plan.records[source],
            passages,
            vectors[p_at : p_at + len(passages)],
            faqs,
            vectors[f_at : f_at + len(faqs)],
        )
        report.passages_removed += n_pass
        report.faq_removed += n_faq
        p_at += len(passages)
        f_at += len(faqs)
        report.passages_added += len(passages)
        report.faq_added += len(faqs)


def remove_sources(index_dir: str | Path, sources: list[str], *,
                   retention: Retention | None = None) -> tuple[int, int, Manifest]:
    """Remove files from the index (by source name). Returns (passages, FAQ entries) removed."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    removed_p = removed_f = 0
    with IndexWriter(
        index_dir,
        model_name=manifest.model_name,
        dimension=manifest.dimension,
        spec=manifest.vector_spec,
        max_tokens=manifest.max_tokens,
        overlap_tokens=manifest.overlap_tokens,
        retention=retention,
    ) as writer:
        for source in sources:
            n_pass, n_faq = writer.remove_file(source)
            removed_p += n_pass
            removed_f += n_faq
        new_manifest = writer.commit()
    return removed_p, removed_f, new_manifest

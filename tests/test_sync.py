"""Incremental sync and FAISS/SQLite consistency after add / change / delete."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from indexer.chunking import ChunkSettings
from indexer.errors import IndexNotFoundError, KnowledgeBaseNotFoundError, ModelMismatchError
from indexer.manifest import read_manifest
from indexer.store import IndexStore
from indexer.sync import build
from indexer.vectors import ids_of
from tests.fakes import HashingEmbedder

SMALL = ChunkSettings(max_tokens=48, overlap_tokens=8)


def make_kb(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pricing.md").write_text(
        "# Pricing\n\n## Pro\n\nThe Pro plan costs 8 euro per month.\n\n"
        "## Team\n\nThe Team plan costs 12 euro per user per month.\n", encoding="utf-8")
    (root / "sync.txt").write_text("Sync works offline and catches up later.\n", encoding="utf-8")
    (root / "faq.csv").write_text(
        "question,answer\nCan I get a refund?,Yes within 14 days.\n"
        "Do you have a student discount?,Students get 50% off.\n", encoding="utf-8")
    return root


def assert_consistent(index_dir: Path) -> IndexStore:
    """FAISS ids == SQLite row ids, for passages and FAQ entries; manifest counts agree."""
    store = IndexStore.open(index_dir)
    m = store.manifest
    db = sqlite3.connect(store.generation_dir / "index.sqlite")
    passage_ids = sorted(r[0] for r in db.execute("SELECT id FROM passages"))
    faq_ids = sorted(r[0] for r in db.execute("SELECT id FROM faq_entries"))
    n_files = db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    orphans = db.execute(
        "SELECT COUNT(*) FROM passages WHERE file_id NOT IN (SELECT id FROM files)"
    ).fetchone()[0]
    db.close()
    assert sorted(ids_of(store.passage_index).tolist()) == passage_ids
    assert sorted(ids_of(store.faq_index).tolist()) == faq_ids
    assert (m.files, m.passages, m.faq_entries) == (n_files, len(passage_ids), len(faq_ids))
    assert orphans == 0
    return store


def query(store: IndexStore, embedder, text: str, k: int = 3):
    return store.search(embedder.embed([text])[0], k)


def test_first_build_indexes_passages_and_faq(tmp_path):
    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    report = build(kb, index, emb, chunking=SMALL)
    assert report.committed and not report.failures
    assert sorted(report.plan.added) == ["faq.csv", "pricing.md", "sync.txt"]
    store = assert_consistent(index)
    assert store.manifest.model_name == "test/hashing-embedder"
    assert store.manifest.dimension == 64
    assert (store.manifest.files, store.manifest.faq_entries) == (3, 2)
    hit = query(store, emb, "how much does the team plan cost per user")[0]
    assert hit.source == "pricing.md"
    assert hit.headings == ("Pricing", "Team")
    assert hit.location == "pricing.md > Team"
    raw = (kb / "pricing.md").read_text()
    assert raw[hit.start : hit.end] == hit.text
    faq = store.search_faq(emb.embed(["is there a refund"])[0], 1)[0]
    assert faq.answer == "Yes within 14 days." and faq.row == 1


def test_unchanged_corpus_is_not_reembedded_nor_rewritten(tmp_path):
    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, emb, chunking=SMALL)
    calls, generation = emb.calls, read_manifest(index).generation
    report = build(kb, index, emb, chunking=SMALL)
    assert not report.plan.has_changes and not report.committed
    assert emb.calls == calls
    assert read_manifest(index).generation == generation
    assert len(report.plan.unchanged) == 3


def test_add_change_delete(tmp_path):
    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, emb, chunking=SMALL)
    before = IndexStore.open(index)
    old_ids = set(ids_of(before.passage_index).tolist())

    (kb / "pricing.md").write_text("# Pricing\n\n## Pro\n\nThe Pro plan now costs 9 euro.\n")
    (kb / "sync.txt").unlink()
    (kb / "new" ).mkdir()
    (kb / "new" / "export.md").write_text("# Export\n\nExport notes as PDF or Markdown.\n")
    emb.calls = 0
    report = build(kb, index, emb, chunking=SMALL)
    assert report.plan.added == ("new/export.md",)
    assert report.plan.updated == ("pricing.md",)
    assert report.plan.removed == ("sync.txt",)
    assert report.plan.unchanged == ("faq.csv",)
    assert emb.calls == 2  # one passage for each of the two files read; nothing else
    store = assert_consistent(index)
    sources = {h.source for h in store.iter_passages()}
    assert sources == {"pricing.md", "new/export.md"}
    texts = " ".join(h.text for h in store.iter_passages())
    assert "9 euro" in texts and "8 euro" not in texts and "12 euro" not in texts
    assert len(set(ids_of(store.passage_index).tolist()) & old_ids) == 0  # ids never reused
    assert len(old_ids) == 3
    assert query(store, emb, "export notes as pdf")[0].source == "new/export.md"
    # the superseded generation still answers for a reader that opened it before the change
    assert before.search(emb.embed(["sync offline"])[0], 1)[0].source == "sync.txt"


def test_broken_new_file_is_skipped_and_broken_update_keeps_old_version(tmp_path):
    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, emb, chunking=SMALL)
    (kb / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (kb / "sync.txt").write_bytes(b"\xff\xfe broken \x00 bytes")
    report = build(kb, index, emb, chunking=SMALL)
    assert {f.source for f in report.failures} == {"broken.pdf", "sync.txt"}
    store = assert_consistent(index)
    assert query(store, emb, "sync offline catches up")[0].source == "sync.txt"
    # both are retried next time, and picked up once fixed
    (kb / "sync.txt").write_text("Sync now works over Bluetooth too.\n")
    report = build(kb, index, emb, chunking=SMALL)
    assert report.plan.added == ("broken.pdf",) and report.plan.updated == ("sync.txt",)
    assert "Bluetooth" in query(assert_consistent(index), emb, "bluetooth sync")[0].text


def test_dry_run_changes_nothing(tmp_path):
    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    report = build(kb, index, emb, chunking=SMALL, dry_run=True)
    assert len(report.plan.added) == 3 and not report.committed
    assert not index.exists() or not (index / "manifest.json").exists()
    assert emb.calls == 0
    build(kb, index, emb, chunking=SMALL)
    (kb / "sync.txt").unlink()
    report = build(kb, index, emb, chunking=SMALL, dry_run=True)
    assert report.plan.removed == ("sync.txt",)
    assert IndexStore.open(index).manifest.files == 3


def test_changed_chunking_reindexes_everything(tmp_path):
    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, emb, chunking=SMALL)
    report = build(kb, index, emb, chunking=ChunkSettings(max_tokens=64, overlap_tokens=8))
    assert "chunking changed" in report.plan.rebuild_reason
    assert len(report.plan.updated) == 3
    assert assert_consistent(index).manifest.max_tokens == 64


def test_a_plain_build_keeps_the_index_chunking(tmp_path):
    """No chunking given (a plain `qabot-index build`, `/reindex`): the index's own settings,
    not the defaults, so nothing is re-chunked; the defaults only for a new index."""
    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, emb, chunking=SMALL)
    calls = emb.calls
    report = build(kb, index, emb)
    assert report.plan.rebuild_reason is None and not report.plan.has_changes
    assert emb.calls == calls
    (kb / "new.txt").write_text("A new file about refunds and more refunds.")
    build(kb, index, emb)
    manifest = assert_consistent(index).manifest
    assert (manifest.max_tokens, manifest.overlap_tokens) == (SMALL.max_tokens,
                                                              SMALL.overlap_tokens)
    fresh = tmp_path / "fresh"
    build(kb, fresh, emb)
    assert assert_consistent(fresh).manifest.max_tokens == ChunkSettings().max_tokens


def test_model_mismatch_is_a_clear_error(tmp_path):
    kb, index = make_kb(tmp_path / "kb"), tmp_path / "index"
    build(kb, index, HashingEmbedder(), chunking=SMALL)
    other = HashingEmbedder(dimension=32, model_name="test/other")
    with pytest.raises(ModelMismatchError, match="built with test/hashing-embedder"):
        build(kb, index, other, chunking=SMALL)
    with pytest.raises(ModelMismatchError, match="dim 64"):
        IndexStore.open(index, model_name="test/other", dimension=32)
    report = build(kb, index, other, chunking=SMALL, rebuild=True)
    assert report.committed
    assert assert_consistent(index).manifest.model_name == "test/other"


def test_hnsw_index_supports_updates_and_conversion(tmp_path):
    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, emb, chunking=SMALL, index_type="hnsw")
    assert assert_consistent(index).manifest.index_type == "hnsw"
    (kb / "sync.txt").unlink()
    build(kb, index, emb, chunking=SMALL)  # keeps hnsw, removal rebuilds the graph
    store = assert_consistent(index)
    assert store.manifest.index_type == "hnsw"
    assert query(store, emb, "team plan per user")[0].source == "pricing.md"
    calls = emb.calls
    report = build(kb, index, emb, chunking=SMALL, index_type="flat")
    assert report.plan.reindex_vectors and report.committed
    assert emb.calls == calls  # conversion reuses the stored vectors
    assert assert_consistent(index).manifest.index_type == "flat"


def test_search_results_are_typed_and_ranked(tmp_path):
    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, emb, chunking=SMALL)
    store = IndexStore.open(index)
    hits = store.search(emb.embed(["pro plan costs euro month"])[0], k=10)
    assert len(hits) == store.manifest.passages  # k larger than the index
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert hits[0].passage_id >= 1 and isinstance(hits[0].score, float)
    assert store.passage(hits[0].passage_id).text == hits[0].text
    batch = store.search_many(emb.embed(["pro plan", "offline sync"]), k=1)
    assert [b[0].source for b in batch] == ["pricing.md", "sync.txt"]
    with pytest.raises(Exception, match="dimension"):
        store.search(np.ones(10, dtype=np.float32), 1)


def test_missing_folders_are_clear_errors(tmp_path):
    with pytest.raises(KnowledgeBaseNotFoundError, match="not found"):
        build(tmp_path / "nope", tmp_path / "index", HashingEmbedder())
    assert not (tmp_path / "index").exists()  # a failed start leaves nothing behind
    with pytest.raises(IndexNotFoundError, match="no index at"):
        IndexStore.open(tmp_path / "index")


def test_a_single_query_search_leaves_other_threads_faiss_thread_count_alone():
    """One-query searches switch FAISS to one OpenMP thread and back; the count is per thread,
    so searches running at once in other threads keep theirs, and every thread ends as it
    began."""
    import threading

    import faiss

    from indexer.vectors import VectorIndexSpec, add, new_index, search

    index = new_index(VectorIndexSpec(dimension=8))
    rng = np.random.default_rng(0)
    add(index, np.arange(200), rng.normal(size=(200, 8)).astype(np.float32))
    before = faiss.omp_get_max_threads()
    seen: list[int] = []
    switching = threading.Event()

    def searcher() -> None:
        for _ in range(300):
            search(index, rng.normal(size=8).astype(np.float32), 5)
            switching.set()

    def watcher() -> None:
        switching.wait(10)
        for _ in range(300):
            seen.append(faiss.omp_get_max_threads())

    threads = [threading.Thread(target=searcher) for _ in range(3)] + [
        threading.Thread(target=watcher)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(seen) == {before}
    assert faiss.omp_get_max_threads() == before


def test_superseded_generations_are_kept_by_count_and_by_age(tmp_path):
    from indexer.writer import Retention
    from tests.fakes import HashingEmbedder

    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()

    def generations() -> list[str]:
        return sorted(p.name for p in index.iterdir() if p.name.startswith("gen-"))

    build(kb, index, emb, chunking=SMALL)
    reader = IndexStore.open(index)  # a running bot on generation 1
    for i in range(4):
        (kb / "sync.txt").write_text(f"Sync works offline, version {i}.\n", encoding="utf-8")
        build(kb, index, emb)  # the default: replaced less than 10 minutes ago -> kept
    assert generations() == [f"gen-{n:06d}" for n in range(1, 6)]
    assert reader.search(emb.embed(["sync offline"])[0], 1)  # still reads its generation
    (kb / "sync.txt").write_text("Sync works offline, last version.\n", encoding="utf-8")
    build(kb, index, emb, retention=Retention(keep=3, minutes=0))
    assert generations() == ["gen-000004", "gen-000005", "gen-000006"]  # the newest three
    with pytest.raises(Exception, match="at least 2"):
        Retention(keep=1)


def test_a_running_retriever_follows_a_generation_built_by_another_process(tmp_path):
    from qabot.retrieval import Retriever
    from tests.fakes import HashingEmbedder
    from tests.waiting import wait_until

    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, emb, chunking=SMALL)
    retriever = Retriever(index, emb, mode="hybrid")
    assert "catches up later" in retriever.search("sync offline", 1)[0].text
    first = retriever.generation
    (kb / "sync.txt").write_text("Sync works offline and merges edits by timestamp.\n",
                                 encoding="utf-8")
    build(kb, index, emb)  # as `qabot-index build` in another process would

    def picked_up() -> bool:
        retriever.search("sync offline", 1)  # a search is what looks at the manifest
        return retriever.generation != first

    wait_until(picked_up, 5, interval=0.1, message="the new generation was not picked up")
    assert "merges edits" in retriever.search("sync offline", 1)[0].text


def downgrade_to_format_1(index: Path) -> Path:
    """Make a built index what the version before public links wrote: no passages.link column,
    format_version 1 in the manifest. Returns the generation's folder."""
    import json

    manifest = json.loads((index / "manifest.json").read_text())
    generation = index / manifest["generation"]
    db = sqlite3.connect(generation / "index.sqlite")
    db.execute("ALTER TABLE passages DROP COLUMN link")
    db.commit()
    db.close()
    manifest["format_version"] = 1
    (index / "manifest.json").write_text(json.dumps(manifest))
    return generation


def link_column(database: Path) -> bool:
    db = sqlite3.connect(database)
    try:
        return "link" in {row[1] for row in db.execute("PRAGMA table_info(passages)")}
    finally:
        db.close()


def test_a_format_1_index_opens_searches_and_a_plain_build_adds_links(tmp_path):
    from indexer.sync import remove_sources

    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    (kb / "pricing.md").write_text("---\npermalink: /plans/\n---\n"
                                   + (kb / "pricing.md").read_text())
    build(kb, index, emb, chunking=SMALL)
    old = downgrade_to_format_1(index)

    store = assert_consistent(index)  # the old generation reads as it is, links absent
    assert not store.has_links and store.manifest.format_version == 1
    hit = query(store, emb, "team plan per user")[0]
    assert (hit.source, hit.link, hit.to_dict()["link"]) == ("pricing.md", None, None)
    assert {h.link for h in store.iter_passages()} == {None}
    assert len(store.bm25()) == store.manifest.passages
    store.close()

    # a change that re-reads no file adds the column but does not claim the new format
    remove_sources(index, ["sync.txt"])
    store = assert_consistent(index)
    assert store.has_links and store.manifest.format_version == 1
    assert {h.link for h in store.iter_passages()} == {None}
    store.close()
    assert not link_column(old / "index.sqlite")  # committed generations are never modified

    plan = build(kb, index, emb, dry_run=True).plan
    assert plan.rebuild_reason == ("the index predates public links (format 1): "
                                   "every file is re-read")
    report = build(kb, index, emb)  # a plain build
    assert report.committed and set(report.plan.updated) == {"pricing.md", "faq.csv"}
    assert report.plan.added == ("sync.txt",)
    store = assert_consistent(index)
    assert store.manifest.format_version == 2 and store.manifest.max_tokens == SMALL.max_tokens
    assert query(store, emb, "team plan per user")[0].link == "/plans/"
    assert {h.source: h.link for h in store.iter_passages()}["sync.txt"] is None
    store.close()
    assert build(kb, index, emb).plan.rebuild_reason is None  # upgraded once


def test_a_folder_with_nothing_to_index_is_an_error_and_creates_nothing(tmp_path):
    from indexer.errors import NoIndexableFilesError

    kb, index = tmp_path / "kb", tmp_path / "state" / "index"
    kb.mkdir()
    for dry_run in (False, True):
        with pytest.raises(NoIndexableFilesError, match=r"^no indexable files in .*kb "
                           r"\(0 ignored, 0 skipped\): the folder is empty; add files of a "
                           r"supported type: \.md .* \.jsonl$"):
            build(kb, index, HashingEmbedder(), dry_run=dry_run)
    (kb / "logo.png").write_bytes(b"\x89PNG")
    (kb / ".env").write_text("x")
    with pytest.raises(NoIndexableFilesError, match=r"\(2 ignored, 0 skipped\): ignored "
                       r"\(unsupported type or hidden\): logo.png, .env; supported types"):
        build(kb, index, HashingEmbedder())
    (kb / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (kb / "blank.md").write_text("  \n")
    with pytest.raises(NoIndexableFilesError, match=r"\(2 ignored, 2 skipped\): blank.md: "
                       r"empty file.*; broken.pdf: broken PDF \(.*logo.png, .env") as info:
        build(kb, index, HashingEmbedder())
    assert (info.value.ignored, info.value.skipped) == (2, 2)
    assert not (tmp_path / "state").exists()  # neither the index folder nor its parent


def test_emptying_the_knowledge_base_leaves_the_index_as_it_is(tmp_path):
    from indexer.errors import NoIndexableFilesError

    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, emb, chunking=SMALL)
    before = read_manifest(index)
    (kb / "faq.csv").unlink()
    (kb / "sync.txt").unlink()
    (kb / "pricing.md").rename(kb / "pricing.md.bak")
    with pytest.raises(NoIndexableFilesError, match=r"\(1 ignored, 0 skipped\)"):
        build(kb, index, emb)
    # every file left fails to load: nothing is removed, no old version dropped
    (kb / "sync.txt").write_bytes(b"\xff\xfe broken \x00 bytes")
    (kb / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    for rebuild in (False, True):
        with pytest.raises(NoIndexableFilesError, match=r"\(1 ignored, 2 skipped\): broken.pdf: "
                           r"broken PDF .*; sync.txt: .*pricing.md.bak"):
            build(kb, index, emb, rebuild=rebuild)
    assert read_manifest(index) == before
    assert_consistent(index)
    # one readable file is enough: the others are reported, the deleted ones removed
    (kb / "new.md").write_text("# New\n\nThe new plan.\n")
    report = build(kb, index, emb)
    assert report.committed and report.plan.removed == ("faq.csv", "pricing.md")
    assert {f.source for f in report.failures} == {"broken.pdf", "sync.txt"}
    assert read_manifest(index).files == 2  # new.md and sync.txt's indexed version

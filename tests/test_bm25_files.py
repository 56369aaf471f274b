"""The BM25 index saved with each index generation: written by the writer, loaded by readers,
rebuilt in memory when a generation has none usable (older indexes, another tokenizer)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from indexer import lexical
from indexer.bm25 import BM25, BM25_DIR, IDS, META
from indexer.errors import BM25NotUsableError
from indexer.lexical import passage_text
from indexer.manifest import read_manifest
from indexer.store import IndexStore
from indexer.sync import build
from indexer.writer import Retention
from qabot.retrieval import Retriever

QUERIES = ["When can annual payments be refunded?", "how many notes stay offline on android",
           "export a notebook as PDF", "two-factor authentication codes", "refunds",
           "nothing in the knowledge base matches zebra"]


def bm25_dir(index_dir):
    return index_dir / read_manifest(index_dir).generation / BM25_DIR


def in_memory(index_dir) -> BM25:
    with IndexStore.open(index_dir) as store:
        return BM25([(h.passage_id, passage_text(h.title, h.headings, h.text))
                     for h in store.iter_passages()])


def test_a_build_writes_the_bm25_files_of_its_passages(kb_index):
    folder = bm25_dir(kb_index)
    meta = json.loads((folder / META).read_text())
    with IndexStore.open(kb_index) as store:
        ids = store.passage_ids()
        assert meta["tokenizer_version"] == lexical.TOKENIZER_VERSION
        assert meta["passages"] == store.manifest.passages == len(ids) > 0
    assert np.array_equal(np.load(folder / IDS), ids)
    assert (folder / "vocab.index.json").is_file() and (folder / "data.csc.index.npy").is_file()


def test_the_loaded_index_ranks_and_scores_as_an_in_memory_build(kb_copy, tmp_path,
                                                                  fake_embedder):
    index = tmp_path / "index"
    build(kb_copy, index, fake_embedder)  # the example knowledge base
    loaded = Retriever(index, fake_embedder, mode="hybrid").bm25
    assert loaded.loaded_from == bm25_dir(index)
    built = in_memory(index)
    assert len(loaded) == len(built) > 100
    for query in QUERIES:
        got, want = loaded.search(query, 20), built.search(query, 20)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-6)
    assert loaded.search("refund annual", 5)  # not vacuous: the queries find passages


def test_a_generation_without_the_files_still_works(kb_index, fake_embedder):
    fresh = Retriever(kb_index, fake_embedder, mode="hybrid")
    before = {q: fresh.search(q, 3) for q in QUERIES}
    shutil.rmtree(bm25_dir(kb_index))  # as a generation written before BM25 was saved
    older = Retriever(kb_index, fake_embedder, mode="hybrid")
    older.warm_up()
    assert older.bm25.loaded_from is None  # built from the passages
    assert {q: older.search(q, 3) for q in QUERIES} == before
    assert older.search(QUERIES[0], 1, mode="bm25")[0].source == "refunds.md"


def test_another_tokenizer_version_rebuilds_instead_of_returning_garbage(kb_index,
                                                                        fake_embedder,
                                                                        monkeypatch):
    # a future tokenizer: other terms for the same text (here: every term reversed)
    old = lexical.tokenize
    monkeypatch.setattr(lexical, "tokenize", lambda text: [t[::-1] for t in old(text)])
    monkeypatch.setattr(lexical, "TOKENIZER_VERSION", lexical.TOKENIZER_VERSION + 1)
    with pytest.raises(BM25NotUsableError, match="tokenizer version 1; this one is version 2"):
        with IndexStore.open(kb_index) as store:
            BM25.load(bm25_dir(kb_index), store.passage_ids())
    retriever = Retriever(kb_index, fake_embedder, mode="bm25")
    assert retriever.bm25.loaded_from is None
    assert retriever.search("annual payments refunded", 1)[0].source == "refunds.md"


def test_the_saved_index_must_cover_exactly_the_stores_passages(kb_index):
    with IndexStore.open(kb_index) as store:
        ids = store.passage_ids()
    with pytest.raises(BM25NotUsableError, match="covers"):
        BM25.load(bm25_dir(kb_index), ids[:-1])
    with pytest.raises(BM25NotUsableError, match="covers"):
        BM25.load(bm25_dir(kb_index), ids + 1000)
    with pytest.raises(BM25NotUsableError, match="k1"):
        BM25.load(bm25_dir(kb_index), ids, k1=2.0)
    assert len(BM25.load(bm25_dir(kb_index), ids)) == len(ids)


def test_each_generation_has_its_own_files_and_cleanup_removes_them(tmp_path, fake_embedder):
    kb, index = tmp_path / "kb", tmp_path / "index"
    kb.mkdir()
    (kb / "a.md").write_text("# Billing\n\nInvoices are sent by email every month.\n")
    (kb / "b.md").write_text("# Sync\n\nSync works offline.\n")
    build(kb, index, fake_embedder)
    first = bm25_dir(index)
    (kb / "b.md").write_text("# Sync\n\nSync needs a kangaroo licence.\n")
    build(kb, index, fake_embedder)
    second = bm25_dir(index)
    assert first != second and first.is_dir() and second.is_dir()
    with IndexStore.open(index) as store:
        now = BM25.load(second, store.passage_ids())
    assert [i for i, _ in now.search("kangaroo", 5)]  # the new generation knows the change
    old_ids = np.load(first / IDS)
    assert BM25.load(first, old_ids).search("kangaroo", 5) == []  # the old one does not
    (kb / "a.md").unlink()
    build(kb, index, fake_embedder, retention=Retention(keep=2, minutes=0))
    third = bm25_dir(index)
    assert not first.parent.exists()  # beyond the retention: removed, bm25 too
    assert second.is_dir() and third.is_dir()
    with IndexStore.open(index) as store:
        assert np.array_equal(np.load(third / IDS), store.passage_ids())
        assert len(store.passage_ids()) < len(np.load(second / IDS))


def test_a_failed_bm25_save_commits_nothing(kb_index, tmp_path, fake_embedder, monkeypatch):
    live = read_manifest(kb_index)
    kb = tmp_path / "kb"
    (kb / "new.md").write_text("# New\n\nA brand new page about wombats.\n")

    def broken(self, folder):
        raise OSError("disk full")

    monkeypatch.setattr(BM25, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        build(kb, kb_index, fake_embedder)
    assert read_manifest(kb_index) == live  # the previous generation stays live and whole
    assert sorted(p.name for p in kb_index.iterdir() if p.name.startswith("gen-")) == [
        live.generation]
    monkeypatch.undo()
    retriever = Retriever(kb_index, fake_embedder, mode="bm25")
    assert retriever.bm25.loaded_from is not None
    assert retriever.search("wombats", 1) == []


def test_an_index_of_stop_words_only_saves_and_loads(tmp_path):
    bm25 = BM25([(7, "the and of"), (9, "it is")])
    bm25.save(tmp_path / "bm25")
    loaded = BM25.load(tmp_path / "bm25", [7, 9])
    assert len(loaded) == 2 and loaded.search("the", 3) == []
    assert list(loaded.scores("anything")) == [0.0, 0.0]

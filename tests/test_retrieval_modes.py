"""BM25, rank fusion and the retriever's three modes."""

from __future__ import annotations

import pytest

from qabot.errors import InvalidSettingError
from qabot.retrieval import Retriever
from qabot.retrieval.bm25 import BM25, tokenize
from qabot.retrieval.fusion import reciprocal_rank_fusion


def test_tokenize_drops_stop_words_and_plural_endings():
    assert tokenize("How do I get REFUNDS for the boxes, policies and it's notes?") == [
        "get", "refund", "box", "policy", "note"]


def test_bm25_prefers_rare_terms_and_shorter_documents():
    index = BM25([(10, "refund refund policy for annual plans"),
                  (11, "annual plans and monthly plans and yearly plans and more plans"),
                  (12, "offline notebooks on android")])
    assert [i for i, _ in index.search("refund for an annual plan", 3)] == [10, 11]
    assert index.search("nothing matches this", 3) == []
    scores = index.scores("plans")
    assert scores[1] > scores[0] > 0 and scores[2] == 0  # term frequency, saturating


def test_reciprocal_rank_fusion():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 4]], k=10)
    assert [i for i, _ in fused] == [3, 1, 2, 4]
    assert fused[0][1] == pytest.approx(1 / 13 + 1 / 11)
    weighted = reciprocal_rank_fusion([[1, 2], [2, 1]], k=10, weights=[0.5, 1.0])
    assert [i for i, _ in weighted] == [2, 1]


def test_retriever_modes(kb_index, fake_embedder):
    query = "When can annual payments be refunded?"
    retriever = Retriever(kb_index, fake_embedder, mode="hybrid")
    dense = retriever.search(query, 3, mode="dense")
    for mode in ("bm25", "hybrid"):
        hits = retriever.search(query, 3, mode=mode)
        assert hits[0].source == "refunds.md"
        # every hit is scored by cosine similarity to the query, whichever way it was found
        by_id = {h.passage_id: h.score for h in dense}
        for h in hits:
            if h.passage_id in by_id:
                assert h.score == pytest.approx(by_id[h.passage_id], abs=1e-5)
    # the retriever's own mode by default; a given vector is used instead of embedding again
    assert retriever.search(query, 3) == retriever.search(query, 3, mode="hybrid")
    vector = retriever.embed(query)
    assert retriever.search("ignored", 3, mode="dense", vector=vector) == dense
    assert retriever.search_faq(query, 1) == retriever.search_faq("x", 1, vector=vector)
    retriever.reload()
    assert retriever.search(query, 1)[0].source == "refunds.md"
    with pytest.raises(InvalidSettingError, match="retrieval mode"):
        retriever.search(query, 3, mode="sparse")
    with pytest.raises(InvalidSettingError, match="retrieval mode"):
        Retriever(kb_index, fake_embedder, mode="magic")

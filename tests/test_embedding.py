"""The real sentence-transformers embedder: offline, normalised, batched, with its own tokenizer."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.embedding import DEFAULT_MODEL_NAME, SentenceTransformerEmbedder, embedder_for
from indexer.errors import ModelMismatchError


def test_dimension_and_tokenizer_need_no_model_load():
    embedder = SentenceTransformerEmbedder()
    assert embedder.dimension == 384
    assert embedder.model_name == DEFAULT_MODEL_NAME
    text = "Quillnote's Pro plan: €8/month."
    spans = embedder.token_spans(text)
    assert [text[a:b] for a, b in spans] == [
        "Qui", "ll", "note", "'", "s", "Pro", "plan", ":", "€", "8", "/", "month", "."
    ]  # WordPiece pieces with exact character offsets
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert embedder._model is None  # still not loaded


@pytest.mark.model
def test_vectors_are_normalised_and_semantic(minilm):
    texts = ["How do I reset my password?", "I forgot my password", "The Team plan price",
             "How much is the team plan?"]
    vectors = minilm.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 3] and sims[2, 3] > sims[2, 1]
    assert minilm.embed([]).shape == (0, 384)
    # batching does not change the result
    assert np.allclose(minilm.embed(texts[:1])[0], vectors[0], atol=1e-5)


def test_embedder_for_unknown_model_is_a_clear_error(tmp_path):
    assert embedder_for(DEFAULT_MODEL_NAME, 384).dimension == 384
    with pytest.raises(ModelMismatchError, match="not available here"):
        embedder_for("someone/other-model")
    with pytest.raises(ModelMismatchError, match="gives 384-d vectors but the index holds 768-d"):
        embedder_for(DEFAULT_MODEL_NAME, 768)

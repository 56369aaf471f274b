"""The shipped retriever (the indexing default), the switch from the general encoder, exporting
a trained model, and the reranking stage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indexer.embedding import (
    BASE_MODEL_NAME,
    DEFAULT_MODEL_NAME,
    RETRIEVER_DIR,
    SentenceTransformerEmbedder,
    embedder_for,
)
from indexer.errors import ModelMismatchError
from qabot.retrieval import Retriever
from qabot.retrieval.rerank import rerank, rerank_order

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [json.loads(line) for line in (ROOT / "tests/data/kb_questions.jsonl").open()]


def index_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "indexer.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=300)


def test_the_default_embedder_is_the_shipped_retriever():
    embedder = SentenceTransformerEmbedder()
    assert embedder.model_name == DEFAULT_MODEL_NAME != BASE_MODEL_NAME
    assert embedder.model_path == RETRIEVER_DIR and embedder.dimension == 384
    assert embedder._model is None  # the name and dimension cost no model load
    # both bundled models resolve by the names manifests record; a folder by its path
    assert embedder_for(BASE_MODEL_NAME, 384).model_path != RETRIEVER_DIR
    assert SentenceTransformerEmbedder.named(str(RETRIEVER_DIR)).model_path == RETRIEVER_DIR
    with pytest.raises(ModelMismatchError, match="no model 'someone/else' here"):
        SentenceTransformerEmbedder.named("someone/else")


def test_shipped_weights_are_fp16_on_disk():
    from safetensors import safe_open

    with safe_open(str(RETRIEVER_DIR / "model.safetensors"), "np") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes == {"F16"}
    total = sum(p.stat().st_size for p in RETRIEVER_DIR.rglob("*") if p.is_file())
    assert total < 50e6
    assert not {"optimizer.pt", "trainer_state.json"} & {p.name for p in RETRIEVER_DIR.iterdir()}


def test_an_index_built_with_the_general_encoder_must_be_rebuilt(tmp_path):
    """Its manifest names the general encoder; an incremental build with the default model
    stops with one line that says to rebuild; the bot still reads it with its own model."""
    from indexer.sync import build
    from tests.fakes import KB, HashingEmbedder

    kb = tmp_path / "kb"
    kb.mkdir()
    for name, text in KB.items():
        (kb / name).write_text(text)
    index = tmp_path / "index"
    build(kb, index, HashingEmbedder(384, BASE_MODEL_NAME))  # as an older qabot built it
    proc = index_cli("build", str(kb), "--index", str(index))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    line, = proc.stderr.strip().splitlines()
    assert BASE_MODEL_NAME in line and DEFAULT_MODEL_NAME in line and "--rebuild" in line
    assert Retriever(index).embedder.model_name == BASE_MODEL_NAME


@pytest.mark.model
@pytest.mark.slow
def test_the_retriever_finds_the_example_kb_article_first(tmp_path, example_index, minilm):
    """The 40 hand-written questions, dense retrieval only: the trained retriever puts the
    article that answers at rank 1 for most, and more often than the general encoder."""
    from indexer.sync import build

    top1 = {}
    for name in (DEFAULT_MODEL_NAME, BASE_MODEL_NAME):
        if name == DEFAULT_MODEL_NAME:  # the shared index: built with the default model
            embedder, index = minilm, example_index
            assert minilm.model_name == DEFAULT_MODEL_NAME
        else:
            embedder = SentenceTransformerEmbedder.named(name)
            index = tmp_path / name.replace("/", "_")
            build(ROOT / "examples/kb", index, embedder)
        retriever = Retriever(index, embedder, mode="dense")
        top1[name] = sum(retriever.search(q["question"], 1)[0].source == q["source"]
                         for q in QUESTIONS)
    assert top1[DEFAULT_MODEL_NAME] >= 32, top1  # 80% of 40
    assert top1[DEFAULT_MODEL_NAME] >= top1[BASE_MODEL_NAME], top1


@pytest.mark.model
def test_export_drops_training_state_and_stores_fp16(tmp_path):
    from qabot.training.export import export_sentence_model

    checkpoint = tmp_path / "checkpoint-7"
    shutil.copytree(RETRIEVER_DIR, checkpoint)
    for name in ("optimizer.pt", "scheduler.pt", "trainer_state.json", "rng_state.pth"):
        (checkpoint / name).write_text("training state")
    out = export_sentence_model(checkpoint, tmp_path / "shipped")
    assert not {"optimizer.pt", "scheduler.pt", "trainer_state.json", "rng_state.pth"} & {
        p.name for p in out.iterdir()}
    texts = ["How do I reset my password?", "Passwords are reset from Settings > Account."]
    original = SentenceTransformerEmbedder.named(str(RETRIEVER_DIR)).embed(texts)
    exported = SentenceTransformerEmbedder.named(str(out))
    assert np.allclose(exported.embed(texts), original, atol=1e-6)
    assert next(exported._load().parameters()).dtype.is_floating_point
    assert str(next(exported._load().parameters()).dtype) == "torch.float32"


class _ScriptedReranker:
    """Scores passages by a dict of text -> score (default 0); records what it was asked."""

    def __init__(self, scores: dict[str, float]):
        self.scores = scores
        self.asked: list[list[str]] = []

    def score(self, question, passages):
        self.asked.append(list(passages))
        return [self.scores.get(p, 0.0) for p in passages]


def test_rerank_order_is_stable_on_ties():
    assert rerank_order([0.1, 0.5, 0.1, 0.5, 0.3]) == [1, 3, 4, 0, 2]
    assert rerank_order([]) == []
    assert rerank_order([2.0, 2.0, 2.0]) == [0, 1, 2]  # all tied: the retriever's order


def test_rerank_keeps_the_best_k():
    class Hit:
        def __init__(self, text):
            self.text = text

    hits = [Hit(t) for t in "abcd"]
    reranker = _ScriptedReranker({"c": 2.0, "d": 1.0})
    assert [h.text for h in rerank(reranker, "q", hits, 3)] == ["c", "d", "a"]
    assert rerank(reranker, "q", [], 3) == []


def test_the_retriever_reranks_its_candidates(kb_index, fake_embedder):
    query = "When can annual payments be refunded?"
    plain = Retriever(kb_index, fake_embedder, mode="hybrid")
    candidates = plain.search(query, 4)
    last = candidates[-1].text
    reranker = _ScriptedReranker({last: 1.0})
    retriever = Retriever(kb_index, fake_embedder, mode="hybrid", reranker=reranker,
                          rerank_candidates=4)
    hits = retriever.search(query, 2)
    assert reranker.asked == [[h.text for h in candidates]]  # the hybrid top 4, in order
    assert [h.text for h in hits] == [last, candidates[0].text]
    assert retriever.search(query, 2, rerank=False) == plain.search(query, 2)
    # a reranker that ties everything changes nothing
    tied = Retriever(kb_index, fake_embedder, mode="hybrid", reranker=_ScriptedReranker({}),
                     rerank_candidates=4)
    assert tied.search(query, 3) == plain.search(query, 3)


def test_a_missing_reranker_folder_is_one_clear_error(tmp_path):
    from qabot.app import build_reranker
    from qabot.config import load_settings
    from qabot.errors import InvalidSettingError, ModelNotFoundError

    assert build_reranker(load_settings(env={})) is None  # off by default
    settings = load_settings(env={"QABOT_RERANKER_MODEL": str(tmp_path / "nowhere")})
    with pytest.raises(ModelNotFoundError, match=r"no cross-encoder in .*nowhere"):
        build_reranker(settings)
    with pytest.raises(InvalidSettingError, match="QABOT_RERANK_CANDIDATES"):
        load_settings(env={"QABOT_RERANK_CANDIDATES": "0"})

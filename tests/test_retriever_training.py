"""The dense retriever's training: its triplets (pure), and a few real steps of the trainer
that lower the loss and resume exactly from a checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qabot.training.retriever_data import Triplet, hard_negatives, pairs, sample
from qabot.training.squad import GoldAnswer, QAExample

COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white"]


def squad_file(path, n=48):
    """A small SQuAD-format file: one paragraph per gadget, one question each."""
    paragraphs = []
    for i in range(n):
        colour = COLOURS[i % len(COLOURS)]
        context = (f"The gadget number {i} is painted {colour}. It was built in the year "
                   f"{1900 + i} and weighs {i + 2} kilograms.")
        qas = [{"id": f"q{i}", "question": f"What colour is gadget number {i}?",
                "answers": [{"text": colour, "answer_start": context.index(colour)}]}]
        paragraphs.append({"context": context, "qas": qas})
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "Gadgets",
                                                             "paragraphs": paragraphs}]}))
    return path


def example(i: int, question: str, context: str, answer: str) -> QAExample:
    return QAExample(f"e{i}", "t", question, context, (GoldAnswer(answer, context.index(answer)),))


def test_pairs_and_hard_negatives():
    contexts = ["Refunds take 14 days for monthly plans.",
                "Refunds of annual plans take 30 days.",
                "Our office is in Berlin."]
    examples = [example(0, "How long do refunds take for monthly plans?", contexts[0], "14 days"),
                example(1, "How long do refunds take for monthly plans?", contexts[0], "14 days"),
                example(2, "Where is the office?", contexts[2], "Berlin")]
    found = pairs(examples)
    assert [(t.question, t.positive) for t in found] == [
        ("How long do refunds take for monthly plans?", contexts[0]),
        ("Where is the office?", contexts[2])]  # the duplicate question/paragraph is dropped
    corpus = [*found, Triplet("Which plans take 30 days?", contexts[1], None, "t")]
    mined = hard_negatives(corpus, [["14 days"], ["Berlin"], ["30 days"]])
    # the refund question's hard negative is the other refund paragraph, not the office
    assert mined[0].negative == contexts[1]
    # the 30-days paragraph is the positive of the third: its negative is another paragraph
    assert mined[2].negative == contexts[0]
    # a paragraph that holds the answer is never a negative
    same = hard_negatives([Triplet("Which refunds take 14 days?", contexts[1], None, "t"),
                           Triplet("x", contexts[0], None, "t")], [["14 days"], ["x"]])
    assert same[0].negative != contexts[0]


def test_sample_is_a_seeded_slice():
    items = [Triplet(str(i), "p", None, "t") for i in range(10)]
    first, second = sample(items, 4, 0, seed=3), sample(items, 4, 4, seed=3)
    assert len(first) == len(second) == 4 and not {t.question for t in first} & {
        t.question for t in second}
    assert sample(items, 4, 0, seed=3) == first and len(sample(items, None)) == 10


def _loss(model_dir, triplets):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    q = model.encode([t.question for t in triplets], normalize_embeddings=True)
    p = model.encode([t.positive for t in triplets], normalize_embeddings=True)
    scores = 20.0 * q @ p.T  # MultipleNegativesRankingLoss's scale
    log_softmax = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    return float(-np.mean(np.diag(log_softmax)))


@pytest.mark.slow
@pytest.mark.model
def test_a_few_steps_lower_the_loss_and_resume_exactly(tmp_path):
    from safetensors.numpy import load_file

    from qabot.training.retriever_training import (
        RetrieverTrainConfig,
        base_model_path,
        train_retriever,
        training_triplets,
    )

    data = squad_file(tmp_path / "gadgets.json")
    cfg = RetrieverTrainConfig(train_files=[str(data)], out_dir=str(tmp_path / "run"),
                               batch_size=8, learning_rate=1e-4, max_steps=4,
                               checkpoint_every=2, max_seq_length=64)
    triplets = training_triplets(cfg)
    assert all(t.negative is not None for t in triplets) and len(triplets) == 48
    summary = train_retriever(cfg)
    assert summary["steps"] == 4 and summary["with_hard_negative"] == 48
    before = _loss(base_model_path(None), triplets)
    after = _loss(tmp_path / "run" / "model", triplets)
    assert after < before, (before, after)
    weights = load_file(tmp_path / "run" / "model" / "model.safetensors")

    # a run killed after step 2: only checkpoint-2 is left; resuming redoes steps 3-4 exactly
    import shutil

    shutil.rmtree(tmp_path / "run" / "checkpoints" / "checkpoint-4")
    shutil.rmtree(tmp_path / "run" / "model")
    resumed = train_retriever(cfg, resume=True)
    assert resumed["resumed_from"].endswith("checkpoint-2") and resumed["steps"] == 4
    again = load_file(tmp_path / "run" / "model" / "model.safetensors")
    assert weights.keys() == again.keys()
    for name in weights:
        np.testing.assert_allclose(weights[name], again[name], rtol=1e-5, atol=1e-6)


def test_reranker_pairs_are_labelled():
    from qabot.training.reranker_training import labelled_pairs

    columns = labelled_pairs([Triplet("q1", "p1", "n1", "t"), Triplet("q2", "p2", None, "t")])
    assert columns == {"question": ["q1", "q1", "q2"], "passage": ["p1", "n1", "p2"],
                       "label": [1.0, 0.0, 1.0]}


@pytest.mark.slow
@pytest.mark.model
def test_the_reranker_trains_and_resumes_exactly(tmp_path):
    # from the shipped reader (the default base): 4 steps already lower the pairs' loss
    import shutil

    from safetensors.numpy import load_file

    from qabot.training.reranker_training import (
        RerankerTrainConfig,
        labelled_pairs,
        train_reranker,
    )
    from qabot.training.retriever_training import training_triplets

    data = squad_file(tmp_path / "gadgets.json")
    cfg = RerankerTrainConfig(train_files=[str(data)], out_dir=str(tmp_path / "rr"),
                              batch_size=8, learning_rate=2e-4, max_steps=4,
                              checkpoint_every=2, max_length=96)
    summary = train_reranker(cfg)
    assert summary["steps"] == 4 and summary["pairs"] == 96 and summary["positives"] == 48
    pairs = labelled_pairs(training_triplets(cfg))
    untrained = _untrained_reranker(cfg, tmp_path / "untrained")  # the same seeded start
    before, after = _bce(untrained, pairs), _bce(tmp_path / "rr" / "model", pairs)
    assert after < before - 0.01, (before, after)
    weights = load_file(tmp_path / "rr" / "model" / "model.safetensors")
    shutil.rmtree(tmp_path / "rr" / "checkpoints" / "checkpoint-4")
    shutil.rmtree(tmp_path / "rr" / "model")
    resumed = train_reranker(cfg, resume=True)
    assert resumed["resumed_from"].endswith("checkpoint-2")
    again = load_file(tmp_path / "rr" / "model" / "model.safetensors")
    for name in weights:
        np.testing.assert_allclose(weights[name], again[name], rtol=1e-5, atol=1e-6)


def _bce(model_dir, pairs: dict) -> float:
    """Mean binary cross-entropy of a reranker's scores on labelled pairs."""
    from qabot.retrieval.rerank import CrossEncoderReranker

    reranker = CrossEncoderReranker(model_dir, max_length=96)
    logits = []
    for question, passage in zip(pairs["question"], pairs["passage"]):
        logits += reranker.score(question, [passage])
    p = 1 / (1 + np.exp(-np.asarray(logits)))
    y = np.asarray(pairs["label"])
    return float(-np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9)))


def _untrained_reranker(cfg, out):
    from sentence_transformers.cross_encoder import CrossEncoder
    from transformers import set_seed

    from qabot.training.reranker_training import reranker_base

    set_seed(cfg.seed)
    CrossEncoder(reranker_base(cfg.base_model), num_labels=1, max_length=cfg.max_length,
                 device="cpu", model_kwargs={"dtype": "float32"}).save(str(out))
    return out


def test_training_without_the_training_extras_says_what_to_install(monkeypatch):
    """The bot (and the Docker image) runs without datasets/accelerate; training says so."""
    import builtins

    from qabot.training.extras import TrainingExtrasMissing, dataset_class

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name.split(".")[0] == "datasets":
            raise ImportError("No module named 'datasets'", name="datasets")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(TrainingExtrasMissing, match=r"datasets is missing\): pip install "
                                                    r"'qabot\[train\]'"):
        dataset_class()

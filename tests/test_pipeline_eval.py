"""The end-to-end evaluator: exact figures on a tiny hand-made set, the curve, the CLI."""

from __future__ import annotations

import json

import pytest

from qabot.evaluation.pipeline import (
    QuestionResult,
    coverage_curve,
    run_pipeline_eval,
    summarize,
    threshold_for,
    write_knowledge_base,
)
from tests.fakes import NumberReader

TINY = {"version": "1.1", "data": [
    {"title": "Refunds", "paragraphs": [
        {"context": "Annual payments are refunded within 30 days of the charge.",
         "qas": [{"id": "q1", "question": "When are annual payments refunded?",
                  "answers": [{"text": "30 days", "answer_start": 37}]}]},
        {"context": "Parrots may join the parrot plan for 77 euros.",
         "qas": [{"id": "q2", "question": "How much is the parrot plan?",
                  "answers": [{"text": "77 euros", "answer_start": 37}]}]}]},
    {"title": "Storage", "paragraphs": [
        {"context": "The web app stores up to 2 GB offline in Chrome.",
         "qas": [{"id": "q3", "question": "How much does the web app store offline?",
                  "answers": [{"text": "2 GB", "answer_start": 25}]},
                 {"id": "q4", "question": "Which browser keeps the offline web app store?",
                  "answers": [{"text": "Chrome", "answer_start": 42}]}]}]},
]}


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def test_knowledge_base_files_keep_paragraph_offsets(tiny, tmp_path):
    questions = write_knowledge_base(tiny, tmp_path / "kb")
    assert sorted(p.name for p in (tmp_path / "kb").iterdir()) == ["000-Refunds.md",
                                                                   "001-Storage.md"]
    for q in questions:
        text = (tmp_path / "kb" / q.source).read_text()
        assert text[q.start:q.end] == q.context


def test_exact_figures_on_a_tiny_set(tiny, tmp_path, fake_embedder):
    reader = NumberReader()
    reader.precision = "fake"
    summary = run_pipeline_eval(tiny, tmp_path / "work", embedder=fake_embedder, reader=reader,
                                top_k=2, answer_threshold=0.0, target_precision=0.5)
    # the two short Refunds paragraphs share one passage (160-token chunks)
    assert summary["questions"] == 4 and summary["passages"] == 2
    # every question shares words with its own paragraph only: found first, in every mode
    for mode in ("dense", "bm25", "hybrid"):
        assert summary["retrieval"][mode] == {"recall@1": 100.0, "recall@5": 100.0,
                                              "recall@20": 100.0, "mrr@20": 1.0}
    # the fake reader answers the first "<number> <word>" it sees: given the gold paragraph,
    # right for q1-q3 and wrong for the browser (q4); end to end it also reads "30 days"
    # for the parrot plan (q2), first in the shared passage
    assert summary["reader_given_gold"] == {"exact": 75.0, "f1": 75.0}
    assert summary["end_to_end"] == {"exact": 50.0, "f1": 50.0}
    assert summary["at_threshold"]["answer_rate"] == 100.0
    assert summary["at_threshold"]["accuracy_when_answering"] == 50.0
    assert summary["threshold_for_target"]["coverage"] == 1.0
    assert summary["threshold_for_target"]["accuracy"] == 0.5


def _result(score, em, abstained=False):
    return QuestionResult("q", {"dense": 1}, em, em, em, em, score, abstained)


def test_coverage_curve_and_target_threshold():
    results = [_result(30.0, 1), _result(25.0, 1), _result(25.0, 0), _result(20.0, 1),
               _result(10.0, 0), _result(None, 0), _result(40.0, 0, abstained=True)]
    curve = coverage_curve(results)
    assert curve == [
        {"threshold": 30.0, "coverage": round(1 / 7, 4), "accuracy": 1.0, "f1": 1.0},
        {"threshold": 25.0, "coverage": round(3 / 7, 4), "accuracy": round(2 / 3, 4),
         "f1": round(2 / 3, 4)},
        {"threshold": 20.0, "coverage": round(4 / 7, 4), "accuracy": 0.75, "f1": 0.75},
        {"threshold": 10.0, "coverage": round(5 / 7, 4), "accuracy": 0.6, "f1": 0.6}]
    coverages = [p["coverage"] for p in curve]
    thresholds = [p["threshold"] for p in curve]
    assert coverages == sorted(coverages) and thresholds == sorted(thresholds, reverse=True)
    assert threshold_for(curve, 0.75)["threshold"] == 20.0
    assert threshold_for(curve, 0.99)["threshold"] == 30.0
    assert threshold_for(curve, 1.01) is None
    summary = summarize(results, modes=["dense"], answer_threshold=20.0, target_precision=0.7)
    assert summary["at_threshold"] == {"answer_threshold": 20.0,
                                       "answer_rate": round(100 * 4 / 7, 2),
                                       "accuracy_when_answering": 75.0}


def test_cli_eval_pipeline(tiny, tmp_path, capsys, monkeypatch, fake_embedder):
    from qabot import cli

    reader = NumberReader()
    reader.precision = "fake"
    monkeypatch.setattr("indexer.embedding.SentenceTransformerEmbedder", lambda: fake_embedder)
    monkeypatch.setattr("qabot.app.build_reader", lambda settings: reader)
    out = tmp_path / "out"
    assert cli.main(["eval", "pipeline", "--data", str(tiny), "--retrieval", "hybrid",
                     "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["end_to_end"]["exact"] == 50.0 and summary["retrieval_mode"] == "hybrid"
    assert (out / "curve.png").stat().st_size > 1000
    assert (out / "curve.csv").read_text().startswith("threshold,coverage,accuracy,f1")
    assert cli.main(["eval", "pipeline", "--data", str(tmp_path / "nope.json")]) == 1


def test_faq_pair_metrics_exactly(tmp_path, capsys, monkeypatch, fake_embedder):
    import numpy as np

    from qabot import cli
    from qabot.evaluation.faq_pairs import best_threshold, pair_metrics

    similarity = np.array([0.9, 0.8, 0.6, 0.4])
    labels = np.array([1, 0, 1, 0])
    assert pair_metrics(similarity, labels, 0.7) == {"threshold": 0.7, "accuracy": 0.5,
                                                     "precision": 0.5, "recall": 0.5}
    assert best_threshold(similarity, labels) == {"threshold": 0.6, "accuracy": 0.75,
                                                  "precision": 0.6667, "recall": 1.0}
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("question_1,question_2,similar\n"
                     "how do refunds work,how do refunds work,1\n"
                     "offline notebooks android,parrot plan price,0\n")
    monkeypatch.setattr("indexer.embedding.SentenceTransformerEmbedder", lambda: fake_embedder)
    assert cli.main(["eval", "faq", "--pairs", str(pairs), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pairs"] == 2 and out["at_threshold"]["accuracy"] == 1.0
    # by default, the cosine at which the bot's FAQ confidence reaches its operating point
    from qabot.dialogue.confidence import load_confidence

    faq, cut = load_confidence().faq, out["at_threshold"]["threshold"]
    assert faq.probability(cut + 0.002) >= faq.threshold > faq.probability(cut - 0.002)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert cli.main(["eval", "faq", "--pairs", str(bad)]) == 1
    assert "question_1" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.model
def test_cli_end_to_end_on_the_example_knowledge_base(tmp_path, capsys):
    """The 40 example-KB questions as a SQuAD file (context: the paragraph of the article that
    holds the answer), through `qabot eval pipeline` with the real models."""
    from qabot import cli
    from tests.conftest import EXAMPLE_KB, ROOT

    articles: dict[str, list] = {}
    for line in (ROOT / "tests" / "data" / "kb_questions.jsonl").read_text().splitlines():
        item = json.loads(line)
        if not item["source"].endswith((".md", ".txt")):
            continue  # the PDF and HTML articles have no plain paragraphs to quote
        text = (EXAMPLE_KB / item["source"]).read_text()
        paragraph = next((p for p in text.split("\n\n") if item["answer"] in p), None)
        if paragraph is None:
            continue
        articles.setdefault(item["source"], []).append({
            "context": paragraph, "qas": [{"id": f"q{len(articles)}-{item['question']}",
                                           "question": item["question"],
                                           "answers": [{"text": item["answer"],
                                                        "answer_start": paragraph.index(
                                                            item["answer"])}]}]})
    data = tmp_path / "kb_squad.json"
    data.write_text(json.dumps({"version": "1.1", "data": [
        {"title": t, "paragraphs": ps} for t, ps in articles.items()]}))
    out = tmp_path / "eval"
    assert cli.main(["eval", "pipeline", "--data", str(data), "--retrieval", "hybrid",
                     "--out", str(out), "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["questions"] >= 30
    assert summary["retrieval"]["hybrid"]["recall@5"] >= 80.0
    assert summary["end_to_end"]["f1"] >= 30.0  # measured 39.3
    assert summary["reader_given_gold"]["f1"] >= summary["end_to_end"]["f1"] - 5
    assert (out / "curve.csv").is_file() and (out / "summary.json").is_file()

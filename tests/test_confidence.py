"""The answer confidence: its features on crafted cases, the model file, the training maths
(curve, operating point, out-of-fold), the calibration folds, and the shipped model."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from qabot.dialogue.confidence import (
    FEATURES,
    ConfidenceModel,
    Confidences,
    Evidence,
    FaqConfidence,
    evidence,
    load_confidence,
    overlap,
    rank_among_its_kind,
    relevant,
)
from qabot.errors import ModelNotFoundError
from qabot.reader.model import ReaderAnswer
from qabot.training.confidence import (
    chosen_point,
    out_of_fold,
    precision_curve,
    train_confidence,
    train_faq,
)
from qabot.training.confidence_data import CalibrationExample, make_folds
from qabot.training.squad import GoldAnswer, QAExample


@dataclass
class Hit:
    text: str
    score: float
    title: str = ""
    headings: tuple[str, ...] = ()


PASSAGES = [
    Hit("Refunds. Annual payments can be refunded within 30 days of the charge. Monthly "
        "payments are not refunded.", 0.71, "Billing", ("Annual payments",)),
    Hit("Billing happens on the first day of each month.", 0.52),
]


def answer(text: str, passage: int = 0, score: float = 9.0, fused: float = 30.0,
           also=()) -> ReaderAnswer:
    start = PASSAGES[passage].text.index(text)
    return ReaderAnswer(text, score, fused, passage, start, start + len(text),
                        PASSAGES[passage].score, also_in=tuple(also))


def test_features_of_a_crafted_answer():
    best = answer("30 days", also=[1])
    other = answer("first day", passage=1, fused=21.5)
    ev = evidence("When can annual payments be refunded?", PASSAGES, [best, other], 4.0, best)
    f = ev.as_dict()
    assert list(f) == list(FEATURES)
    assert f["span_score"] == 9.0 and f["null_margin"] == -5.0  # 4 - 9
    assert f["second_gap"] == pytest.approx(8.5) and f["agreement"] == 1.0
    assert f["passage_similarity"] == pytest.approx(0.71)
    assert f["top_similarity"] == pytest.approx(0.71) and f["passage_rank"] == 1.0
    # "annual", "payment", "refunded" all occur in the answer's sentence (stop words dropped)
    assert f["sentence_overlap"] == 1.0 and f["passage_overlap"] == 1.0
    # "annual" and "payment" of "annual", "payment", "refunded" are in a heading
    assert f["title_overlap"] == pytest.approx(2 / 3)
    assert f["answer_words"] == pytest.approx(np.log1p(2))


def test_features_of_an_answer_from_a_sentence_that_does_not_match_the_question():
    best = answer("first day", passage=1)
    f = evidence("When can annual payments be refunded?", PASSAGES, [best], float("-inf"),
                 best).as_dict()
    assert f["sentence_overlap"] == 0.0 and f["passage_rank"] == 0.5
    assert f["title_overlap"] == 0.0  # no title, no headings
    assert f["passage_similarity"] == pytest.approx(0.52)
    assert f["null_margin"] == 20.0  # a non-finite margin is clipped, never NaN
    assert f["second_gap"] == 20.0  # no other answer: the largest lead


def test_faq_answers_rank_among_themselves():
    @dataclass
    class Faq:
        text: str
        score: float

    passages = [*PASSAGES, Faq("Yes. We accept PayPal.", 0.9), Faq("No.", 0.5)]
    assert [rank_among_its_kind(passages, i) for i in range(4)] == [0, 1, 0, 1]
    best = ReaderAnswer("PayPal", 7.0, 20.0, 2, 15, 21, 0.9)
    assert evidence("Can I pay with PayPal?", passages, [best], 0.0,
                    best).as_dict()["passage_rank"] == 1.0


def test_overlap_and_relevance():
    assert overlap({"refund", "annual"}, "Annual plans are refunded.") == 0.5
    assert overlap(set(), "anything") == 0.0
    assert relevant("How are annual payments refunded?", PASSAGES)
    # similar enough by the encoder, but not one shared word: not relevant
    assert not relevant("what's the weather like today?", PASSAGES)
    # a shared word, but too far from every passage
    assert not relevant("refunded", [Hit("Refunds take a while.", 0.2)])


def test_the_model_file_round_trip_and_a_mismatch(tmp_path):
    n = len(FEATURES)
    weights = (2.0,) + (0.0,) * (n - 1)
    model = ConfidenceModel((1.0,) * n, (2.0,) * n, weights, -1.0, 0.6, {"note": "x"})
    faq = FaqConfidence(40.0, -26.0, 0.9, {})
    Confidences(model, faq).save(tmp_path / "c.json")
    back = load_confidence(tmp_path / "c.json")
    assert back.answer == model and back.faq == faq
    ev = Evidence((5.0,) + (1.0,) * (n - 1))  # standardised first feature (5-1)/2 = 2
    assert back.answer.probability(ev) == pytest.approx(1 / (1 + np.exp(-(2 * 2 - 1))))
    assert back.faq.probability(0.65) == pytest.approx(0.5)
    data = json.loads((tmp_path / "c.json").read_text())
    data["features"] = ["span_score"]
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(ModelNotFoundError, match="other features"):
        load_confidence(tmp_path / "c.json")
    with pytest.raises(ModelNotFoundError, match="qabot train confidence"):
        load_confidence(tmp_path / "missing.json")


def test_the_operating_point_needs_enough_answers():
    confidence = np.array([0.9, 0.8, 0.8, 0.6, 0.3])
    right = np.array([1, 1, 0, 1, 0])
    curve = precision_curve(confidence, right)
    assert [(p.threshold, p.answered, p.precision) for p in curve] == [
        (0.9, 1, 1.0), (0.8, 3, 0.6667), (0.6, 4, 0.75), (0.3, 5, 0.6)]
    assert chosen_point(curve, 0.7, min_answers=1).threshold == 0.6
    assert chosen_point(curve, 0.95, min_answers=1).threshold == 0.9
    assert chosen_point(curve, 0.95, min_answers=2) is None


def test_out_of_fold_never_scores_an_article_with_a_model_that_saw_it():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] > 0).astype(int)
    groups = [f"a{i % 10}" for i in range(200)]
    oof = out_of_fold(x, y, groups, 1.0)
    assert ((oof > 0.5) == y.astype(bool)).mean() > 0.9
    # every group is scored by a model fitted without it: flipping one group's labels
    # changes the confidences of the other groups, never its own
    flipped = y.copy()
    mine = np.array([g == "a3" for g in groups])
    flipped[mine] = 1 - flipped[mine]
    again = out_of_fold(x, flipped, groups, 1.0)
    assert np.allclose(oof[mine], again[mine])
    assert not np.allclose(oof[~mine], again[~mine])


def examples_for(n: int, seed: int = 0) -> list[CalibrationExample]:
    """Right answers have a high sentence overlap, wrong ones a low one (plus noise)."""
    rng = np.random.RandomState(seed)
    out = []
    for i in range(n):
        right = bool(rng.rand() < 0.5)
        feats = rng.normal(size=len(FEATURES))
        feats[FEATURES.index("sentence_overlap")] += 3.0 if right else 0.0
        out.append(CalibrationExample(f"q{i}", f"article{i % 12}", "retrievable",
                                      tuple(feats), right, "x", False))
    return out


def test_training_reaches_the_target_on_held_out_articles():
    model = train_confidence(examples_for(600), target=0.9)
    v = model.info["validation"]
    assert v["precision"] >= 0.9 and v["coverage"] > 0.3
    weights = model.info["weights_by_feature"]
    assert weights["sentence_overlap"] == max(weights.values())  # the one informative feature
    strong = Evidence(tuple(3.0 if f == "sentence_overlap" else 0.0 for f in FEATURES))
    weak = Evidence((0.0,) * len(FEATURES))
    assert model.probability(strong) >= model.threshold > model.probability(weak)


def test_faq_confidence_is_monotone_in_the_cosine_and_reaches_its_target():
    rng = np.random.RandomState(1)
    labels = rng.rand(400) < 0.5
    cosine = np.where(labels, rng.normal(0.8, 0.08, 400), rng.normal(0.5, 0.1, 400))
    faq = train_faq(cosine, labels.astype(int), target=0.95)
    assert faq.weight > 0 and faq.info["validation"]["precision"] >= 0.95
    cut = faq.info["validation"]["cosine"]
    assert faq.probability(cut + 0.01) >= faq.threshold > faq.probability(cut - 0.01)


def qa(i: int, title: str, paragraph: int) -> QAExample:
    context = f"{title} says the answer is paragraph {paragraph}."
    return QAExample(f"{title}-{i}", title, f"question {i}?", context,
                     (GoldAnswer(f"paragraph {paragraph}", context.index("paragraph")),))


def test_calibration_folds_keep_their_scenarios_apart():
    examples = [qa(a * 100 + p * 10 + q, f"art{a}", p)
                for a in range(4) for p in range(4) for q in range(3)]
    folds = make_folds(examples, {"distractor": ["other text"]}, per_fold=30, seed=5)
    assert len(folds) == 2
    indexed = [set(f.articles) - {"distractor"} for f in folds]
    assert indexed[0] | indexed[1] == {"art0", "art1", "art2", "art3"}
    assert not indexed[0] & indexed[1]
    by_id = {e.id: e for e in examples}
    for fold, mine in zip(folds, indexed):
        assert fold.articles["distractor"] == ["other text"]
        kb_text = {p for t in mine for p in fold.articles[t]}
        scenarios = {p.scenario for p in fold.probes}
        assert scenarios == {"retrievable", "removed", "absent"}
        for p in fold.probes:
            context = by_id[p.id].context
            if p.scenario == "retrievable":
                assert context in kb_text
            elif p.scenario == "removed":
                assert p.group in mine and context not in kb_text
            else:
                assert p.group not in mine
        # a quarter of each indexed article's 4 paragraphs is left out
        assert all(len(fold.articles[t]) == 3 for t in mine)

"""The answer confidence: how likely the bot's best candidate answer is right, from the evidence
it has, as one probability.

``evidence(...)`` turns a question, its retrieved passages and the reader's result into a fixed
vector of features (pure); ``ConfidenceModel`` is a logistic regression over them, trained by
``qabot train confidence`` on answers the bot itself gave on SQuAD train articles and COVID-QA
papers (right span vs. wrong span, the answer retrieved vs. not, answerable vs. not), and
shipped as JSON with its operating point: the lowest confidence whose precision on held-out
articles reaches the target (90%). The engine answers only at or above that point.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qabot.dialogue.snippets import sentence_around
from qabot.errors import ModelNotFoundError
from qabot.retrieval.bm25 import tokenize

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "confidence.json"

FEATURES = (
    "span_score",  # the reader's start + end logit of the answer
    "null_margin",  # the no-answer score minus the span score (clipped)
    "second_gap",  # the span's fused-score lead over the next different answer (clipped)
    "agreement",  # other passages where the same answer was found
    "passage_similarity",  # cosine of the question and the answer's passage
    "top_similarity",  # the best cosine of any retrieved passage
    "passage_rank",  # 1 / (1 + rank of the answer's passage among those of its kind read)
    "sentence_overlap",  # share of the question's words in the answer's sentence
    "passage_overlap",  # share of the question's words in the answer's passage
    "title_overlap",  # share of the question's words in the passage's title and headings
    "answer_words",  # log(1 + words in the answer)
    "question_words",  # log(1 + content words in the question)
)
CLIP = 20.0


@dataclass(frozen=True)
class Evidence:
    """The features of one candidate answer, in ``FEATURES`` order."""

    values: tuple[float, ...]

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FEATURES, self.values))


def overlap(question_words: set[str], text: str) -> float:
    """The share of the question's (content) words that occur in ``text``."""
    if not question_words:
        return 0.0
    return len(question_words & set(tokenize(text))) / len(question_words)


# a message whose best retrieved passage is at least this similar (cosine) and shares a word
# with it is about the knowledge base, whatever the router says (BENCHMARKS.md, section 9)
RELEVANT_SIMILARITY = 0.35


def relevant(question: str, passages: Sequence) -> bool:
    """The knowledge base has something on the question: a retrieved passage at least
    ``RELEVANT_SIMILARITY`` similar to it that shares one of its words."""
    words = set(tokenize(question))
    return any(float(getattr(p, "score", 0.0) or 0.0) >= RELEVANT_SIMILARITY
               and overlap(words, p.text) > 0 for p in passages)


def answer_sentence(passages: Sequence, best) -> str:
    """The sentence of its passage that holds the answer (what the reply quotes)."""
    text = passages[best.passage_index].text
    left, right = sentence_around(text, best.start, best.end)
    return text[left:right]


def evidence(question: str, passages: Sequence, answers: Sequence, no_answer_score: float,
             best) -> Evidence:
    """Features of ``best`` (a ReaderAnswer, one of ``answers``, read from ``passages``)."""
    passage = passages[best.passage_index]
    text = passage.text
    sentence = answer_sentence(passages, best)
    words = set(tokenize(question))
    heading = " ".join([str(getattr(passage, "title", "") or ""),
                        *(getattr(passage, "headings", ()) or ())])
    others = [a.fused_score for a in answers if a.text != best.text]
    gap = best.fused_score - max(others) if others else CLIP
    similarity = [float(getattr(p, "score", 0.0) or 0.0) for p in passages]
    values = (
        best.score,
        _clip(no_answer_score - best.score),
        _clip(gap, 0.0),
        float(len(best.also_in)),
        similarity[best.passage_index],
        max(similarity),
        1.0 / (1 + rank_among_its_kind(passages, best.passage_index)),
        overlap(words, sentence),
        overlap(words, text),
        overlap(words, heading),
        math.log1p(len(best.text.split())),
        math.log1p(len(words)),
    )
    return Evidence(tuple(float(v) for v in values))


def rank_among_its_kind(passages: Sequence, index: int) -> int:
    """The passage's rank among the passages of its own type: retrieved passages rank among
    themselves, and so do the FAQ answers the engine reads after them."""
    kind = type(passages[index])
    return sum(1 for p in passages[:index] if type(p) is kind)


def _clip(value: float, low: float = -CLIP) -> float:
    return float(min(CLIP, max(low, value))) if math.isfinite(value) else CLIP


@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic regression over standardised features."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float  # the operating point: answer at or above this confidence
    info: dict

    def probability(self, ev: Evidence) -> float:
        x = (np.asarray(ev.values) - np.asarray(self.mean)) / np.asarray(self.scale)
        z = float(x @ np.asarray(self.weights) + self.bias)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def to_json(self, features: Sequence[str] = FEATURES) -> dict:
        return {"features": list(features), "mean": list(self.mean), "scale": list(self.scale),
                "weights": list(self.weights), "bias": self.bias, "threshold": self.threshold,
                **self.info}

    @classmethod
    def from_json(cls, data: dict, features: Sequence[str] = FEATURES) -> ConfidenceModel:
        if tuple(data.get("features", ())) != tuple(features):
            raise ModelNotFoundError(
                "the confidence model was trained on other features; retrain it with "
                "'qabot train confidence' (and 'qabot train tiers')")
        known = {"features", "mean", "scale", "weights", "bias", "threshold"}
        return cls(tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]),
                   float(data["bias"]), float(data["threshold"]),
                   {k: v for k, v in data.items() if k not in known})

@dataclass(frozen=True)
class FaqConfidence:
    """How likely an FAQ question says the same as the message: a logistic curve over their
    cosine similarity, fitted on labelled question pairs, with its operating point."""

    weight: float
    bias: float
    threshold: float
    info: dict

    def probability(self, similarity: float) -> float:
        z = self.weight * float(similarity) + self.bias
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def to_json(self) -> dict:
        return {"weight": self.weight, "bias": self.bias, "threshold": self.threshold,
                **self.info}

    @classmethod
    def from_json(cls, data: dict) -> FaqConfidence:
        known = {"weight", "bias", "threshold"}
        return cls(float(data["weight"]), float(data["bias"]), float(data["threshold"]),
                   {k: v for k, v in data.items() if k not in known})


@dataclass(frozen=True)
class Tiers:
    """The help-centre tier model over ``tier_evidence.TIER_FEATURES``: ``related``, how likely
    the related reply of a candidate the bot is not sure enough to assert holds the answer,
    with its operating point (``qabot train tiers``)."""

    related: ConfidenceModel

    def to_json(self) -> dict:
        from qabot.dialogue.tier_evidence import TIER_FEATURES

        return {"related": self.related.to_json(TIER_FEATURES)}

    @classmethod
    def from_json(cls, data: dict) -> Tiers:
        from qabot.dialogue.tier_evidence import TIER_FEATURES

        return cls(ConfidenceModel.from_json(data["related"], TIER_FEATURES))


@dataclass(frozen=True)
class Confidences:
    """What the shipped confidence file holds: the answer model, the FAQ model and the
    related-tier model fitted on help centres (None: no related replies)."""

    answer: ConfidenceModel
    faq: FaqConfidence
    tiers: Tiers | None = None

    def save(self, path: str | Path) -> None:
        data = {**self.answer.to_json(), "faq": self.faq.to_json()}
        if self.tiers is not None:
            data["tiers"] = self.tiers.to_json()
        Path(path).write_text(json.dumps(data, indent=1) + "\n")


def load_confidence(path: str | Path | None = None) -> Confidences:
    path = Path(path) if path else DEFAULT_MODEL
    try:
        data = json.loads(path.read_text())
        return Confidences(ConfidenceModel.from_json({k: v for k, v in data.items()
                                                      if k not in ("faq", "tiers")}),
                           FaqConfidence.from_json(data["faq"]),
                           Tiers.from_json(data["tiers"]) if "tiers" in data else None)
    except FileNotFoundError:
        raise ModelNotFoundError(f"no answer-confidence model at {path}; train one with "
                                 f"'qabot train confidence'") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelNotFoundError(f"{path}: not an answer-confidence model ({exc})") from None

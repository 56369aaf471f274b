"""Fakes for tests whose unit is not the model: a hashing bag-of-words embedder, keyword
intent rules and a reader that answers with the first number of a matching passage."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from qabot.dialogue.confidence import (
    FEATURES,
    ConfidenceModel,
    Confidences,
    FaqConfidence,
    Tiers,
)
from qabot.dialogue.tier_evidence import TIER_FEATURES
from qabot.intents.intentset import load_intent_set
from qabot.intents.routing import IntentPrediction
from qabot.reader.model import ReaderAnswer, ReaderResult

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def regex_token_spans(text: str) -> list[tuple[int, int]]:
    """Words and punctuation marks, like BERT's pre-tokenizer (without word pieces)."""
    return [m.span() for m in _TOKEN.finditer(text)]


class HashingEmbedder:
    """Deterministic, fast, dependency-free: each lowercased word hashes to a dimension.

    Texts sharing words get high cosine similarity, so retrieval tests are meaningful.
    ``calls`` counts the texts embedded, so tests can assert what was (not) re-embedded.
    """

    def __init__(self, dimension: int = 64, model_name: str = "test/hashing-embedder"):
        self._dimension = dimension
        self._name = model_name
        self.calls = 0
        self.batches: list[int] = []

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return regex_token_spans(text)

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls += len(texts)
        self.batches.append(len(texts))
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
                out[row, h % self._dimension] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out


KB = {
    "refunds.md": "# Refunds\n\nAnnual payments can be refunded within 30 days of the charge. "
                  "Monthly payments are refunded within 14 days.\n",
    "offline.md": "# Offline\n\n## Android\n\nOn Android the app keeps 50 notes offline.\n\n"
                  "## Web\n\nThe web app stores up to 2 GB offline in Chrome.\n",
    "two-factor.md": "# Two-factor authentication\n\nTurn on two-factor authentication under "
                     "Settings. If you lose your phone, sign in with one of your 10 recovery "
                     "codes.\n",
    "export.md": "# Export\n\nExport a notebook in 3 formats:\n\n1. Open the notebook.\n"
                 "2. Select Export.\n3. Choose PDF, Markdown or HTML.\n",
    "faq.csv": "question,answer\nCan I pay with PayPal?,Yes. We accept PayPal and cards.\n",
}
RULES = [  # (pattern, intent, action, confidence)
    (r"^(hi|hello)\b", "greeting", "template", 0.95),
    (r"\bthanks?\b", "thanks", "template", 0.9),
    (r"\bbye\b", "goodbye", "end", 0.9),
    (r"\b(human|person|agent)\b", "human_handoff", "handoff", 0.9),
    (r"^(yes|yep|sure)\b", "affirm", "context", 0.9),
    (r"^(no|nope)\b", "deny", "context", 0.9),
    (r"\b(weather|football)\b", "out_of_scope", "fallback", 0.8),
    (r"^(what about|and)\b", "question", "answer", 0.3),
]


class RuleIntents:
    uses_embeddings = False

    def __init__(self):
        self.intent_set = load_intent_set()
        self.seen: list[str] = []

    def warm_up(self) -> None:
        pass

    def predict_vector(self, vector) -> IntentPrediction:
        raise NotImplementedError("rules read the text (uses_embeddings is False)")

    def predict(self, text: str) -> IntentPrediction:
        self.seen.append(text)
        for pattern, intent, action, confidence in RULES:
            if re.search(pattern, text.lower()):
                return IntentPrediction(intent, confidence, "question", 0.05, intent, action)
        return IntentPrediction("question", 0.9, "smalltalk", 0.05, "question", "answer")


class NumberReader:
    """Answers with the first '<number> <word>' of the first passage sharing a word with the
    question; abstains otherwise. Records what it was asked."""

    def __init__(self):
        self.questions: list[str] = []

    def warm_up(self) -> None:
        pass

    def read(self, question, passages, top_k=3) -> ReaderResult:
        self.questions.append(question)
        asked = {w for w in re.findall(r"\w+", question.lower()) if len(w) > 3}
        for i, p in enumerate(passages):
            text, score = (p, 0.0) if isinstance(p, str) else (p.text, p.score)
            m = re.search(r"\d+ \w+", text)
            if m and asked & set(re.findall(r"\w+", text.lower())):
                answer = ReaderAnswer(m.group(), 10.0, 10.0 + 32 * score, i, m.start(),
                                      m.end(), score, getattr(p, "passage_id", None),
                                      getattr(p, "source", None))
                return ReaderResult(question, [answer], -5.0, abstained=False)
        return ReaderResult(question, [], 0.0, abstained=True)


class BrokenReader(NumberReader):
    def read(self, question, passages, top_k=3):
        raise RuntimeError("model exploded")


def fake_confidences(faq_cosine: float = 0.9) -> Confidences:
    """Confidence models for engines with fake components: every answer 0.5 sure (the engine
    answers when its ``answer_confidence`` setting is at most that), an FAQ match at least
    ``faq_cosine`` similar 0.5 sure or more (the FAQ operating point)."""
    n = len(FEATURES)
    answer = ConfidenceModel((0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, 0.5, {})
    return Confidences(answer, FaqConfidence(50.0, -50.0 * faq_cosine, 0.5, {}))


def related_confidences(faq_cosine: float = 0.9) -> Confidences:
    """Confidence models that make every candidate answer a related reply: the answer model
    is never sure (the engine must use its operating point: ``answer_confidence=None``), the
    related-tier model always is; FAQ matches as in ``fake_confidences``."""
    n, t = len(FEATURES), len(TIER_FEATURES)
    never = ConfidenceModel((0.0,) * n, (1.0,) * n, (0.0,) * n, -50.0, 0.5, {})
    always = ConfidenceModel((0.0,) * t, (1.0,) * t, (0.0,) * t, 50.0, 0.5, {})
    return Confidences(never, FaqConfidence(50.0, -50.0 * faq_cosine, 0.5, {}),
                       Tiers(related=always))

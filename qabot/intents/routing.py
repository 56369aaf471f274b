"""Pure routing maths: class probabilities -> a prediction with out-of-scope detection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qabot.intents.intentset import OUT_OF_SCOPE


@dataclass(frozen=True)
class IntentPrediction:
    intent: str  # the routed intent: OUT_OF_SCOPE when the confidence is below the threshold
    confidence: float  # probability of ``top_intent``
    runner_up: str | None
    runner_up_confidence: float
    top_intent: str  # the most probable intent, before the threshold
    action: str = "fallback"

    @property
    def out_of_scope(self) -> bool:
        return self.intent == OUT_OF_SCOPE


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def route(probs: np.ndarray, labels: Sequence[str], threshold: float) -> IntentPrediction:
    """The most probable intent, or OUT_OF_SCOPE when its probability is below ``threshold``
    (an explicit out_of_scope class, if the model has one, wins like any other class)."""
    if len(probs) != len(labels) or len(labels) < 2:
        raise ValueError(f"{len(probs)} probabilities for {len(labels)} labels")
    first, second = np.argsort(-probs, kind="stable")[:2]
    confidence = float(probs[first])
    top = labels[first]
    return IntentPrediction(
        intent=top if confidence >= threshold else OUT_OF_SCOPE,
        confidence=confidence,
        runner_up=labels[second],
        runner_up_confidence=float(probs[second]),
        top_intent=top,
    )


def routed_labels(probs: np.ndarray, labels: Sequence[str], threshold: float) -> list[str]:
    """``route`` over a matrix of probabilities (one row per message): the routed labels."""
    best = probs.argmax(axis=1)
    return [labels[j] if probs[i, j] >= threshold else OUT_OF_SCOPE for i, j in enumerate(best)]

"""FAQ matching on labelled question pairs: is "similar" decided right by a cosine threshold?

Input: a CSV with ``question_1,question_2,similar`` (1/0), as COVID-QA's
``eval_question_similarity_en.csv``. Both questions are embedded with the bot's encoder; a pair
is called similar when their cosine similarity reaches the threshold (what ``FaqMatcher``
does with a user's message and an FAQ question). Reported: accuracy, precision and recall at a
given threshold and the threshold with the best accuracy.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qabot.errors import QabotError


def read_pairs(path: str | Path) -> tuple[list[str], list[str], np.ndarray]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        first = [r["question_1"] for r in rows]
        second = [r["question_2"] for r in rows]
        labels = np.array([int(float(r["similar"])) for r in rows], dtype=np.int8)
    except (OSError, KeyError, ValueError) as exc:
        raise QabotError(f"cannot read question pairs from {path} (columns question_1, "
                         f"question_2, similar): {exc}") from None
    if not rows:
        raise QabotError(f"{path}: no question pairs")
    return first, second, labels


def pair_metrics(similarity: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    predicted = similarity >= threshold
    truth = labels.astype(bool)
    tp = int(np.sum(predicted & truth))
    fp = int(np.sum(predicted & ~truth))
    fn = int(np.sum(~predicted & truth))
    return {"threshold": round(float(threshold), 4),
            "accuracy": round(float(np.mean(predicted == truth)), 4),
            "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
            "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0}


def best_threshold(similarity: np.ndarray, labels: np.ndarray) -> dict:
    """The threshold (one of the observed similarities) with the best accuracy; ties: lowest."""
    best = None
    for t in np.unique(similarity):
        m = pair_metrics(similarity, labels, float(t))
        if best is None or m["accuracy"] > best["accuracy"]:
            best = m
    return best


def evaluate_pairs(first: Sequence[str], second: Sequence[str], labels: np.ndarray, embedder,
                   threshold: float) -> dict:
    a = np.asarray(embedder.embed(list(first)), dtype=np.float32)
    b = np.asarray(embedder.embed(list(second)), dtype=np.float32)
    similarity = np.sum(a * b, axis=1)  # the vectors are L2-normalised: cosine
    return {"pairs": len(labels), "similar": int(labels.sum()),
            "at_threshold": pair_metrics(similarity, labels, threshold),
            "best": best_threshold(similarity, labels)}

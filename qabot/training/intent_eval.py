"""Evaluate an intent classifier on labelled messages: routed labels (threshold applied) against
gold, latency per single message, and optionally a confusion-matrix PNG."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from qabot.intents.classifier import IntentClassifier
from qabot.intents.routing import routed_labels
from qabot.training.intent_data import Labelled
from qabot.training.intent_metrics import confusion_png, intent_metrics


def evaluate_intents(classifier: IntentClassifier, data: Labelled, *,
                     confusion: str | Path | None = None, latency_messages: int = 200) -> dict:
    classifier.warm_up()
    started = time.perf_counter()
    probs = classifier.probabilities(data.texts)
    batch_seconds = time.perf_counter() - started
    routed = routed_labels(probs, classifier.labels, classifier.threshold)
    out = intent_metrics(data.labels, routed)
    unknown = sorted(set(data.labels) - set(classifier.labels) - {"out_of_scope"})
    if unknown:
        out["labels_unknown_to_the_model"] = unknown
    times = []
    for text in data.texts[:latency_messages]:
        t = time.perf_counter()
        classifier.predict(text)
        times.append(time.perf_counter() - t)
    out.update(
        threshold=classifier.threshold, mode=classifier.mode,
        batch_ms_per_message=round(1000 * batch_seconds / max(len(data), 1), 2),
        single_message_p50_ms=round(1000 * float(np.median(times)), 2) if times else None,
    )
    if confusion:
        out["confusion_png"] = confusion_png(data.labels, routed, str(confusion),
                                             title=f"{classifier.model_dir.name}: "
                                                   f"{len(data)} messages")
    return out

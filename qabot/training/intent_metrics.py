"""Intent metrics (pure): accuracy, macro-F1, per-intent report, out-of-scope detection, and the
choice of the out-of-scope threshold on a validation set."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qabot.intents.intentset import OUT_OF_SCOPE
from qabot.intents.routing import routed_labels

OBJECTIVES = ("balanced", "accuracy")


def intent_metrics(gold: Sequence[str], routed: Sequence[str]) -> dict:
    """Accuracy over all messages, macro-F1 over the gold classes, a per-intent report, and,
    when the gold labels include ``out_of_scope``, in-scope accuracy and out-of-scope
    recall/precision (the CLINC150 protocol)."""
    if len(gold) != len(routed):
        raise ValueError(f"{len(gold)} gold labels for {len(routed)} predictions")
    gold_a, routed_a = np.asarray(gold, dtype=object), np.asarray(routed, dtype=object)
    report = {}
    for label in sorted(set(gold)):
        tp = int(np.sum((gold_a == label) & (routed_a == label)))
        predicted = int(np.sum(routed_a == label))
        support = int(np.sum(gold_a == label))
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    out = {
        "messages": len(gold),
        "accuracy": float(np.mean(gold_a == routed_a)) if len(gold) else 0.0,
        "macro_f1": float(np.mean([r["f1"] for r in report.values()])) if report else 0.0,
    }
    oos = gold_a == OUT_OF_SCOPE
    if oos.any():
        said_oos = routed_a == OUT_OF_SCOPE
        out["in_scope_accuracy"] = float(np.mean(gold_a[~oos] == routed_a[~oos])) \
            if (~oos).any() else 0.0
        out["oos_recall"] = float(np.mean(said_oos[oos]))
        out["oos_precision"] = float(np.sum(said_oos & oos) / said_oos.sum()) \
            if said_oos.any() else 0.0
    out["per_intent"] = report
    return out


def choose_threshold(probs: np.ndarray, gold: Sequence[str], labels: Sequence[str],
                     objective: str = "balanced") -> tuple[float, dict]:
    """The confidence threshold that maximises ``objective`` on validation messages:
    ``balanced`` = mean of in-scope accuracy and out-of-scope recall, ``accuracy`` = accuracy
    over all messages. Without out-of-scope messages in ``gold`` there is nothing to tune:
    0.0 (never reject). Returns (threshold, the metrics at it)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown threshold objective {objective!r}; choose {OBJECTIVES}")
    gold_a = np.asarray(gold, dtype=object)
    oos = gold_a == OUT_OF_SCOPE
    if not oos.any() or oos.all():
        return 0.0, intent_metrics(gold, routed_labels(probs, labels, 0.0))
    conf = probs.max(axis=1)
    top = np.asarray([labels[j] for j in probs.argmax(axis=1)], dtype=object)
    top_right = top == gold_a
    best_t, best_score = 0.0, -1.0
    for t in np.unique(np.concatenate([[0.0], conf])):
        right = np.where(conf >= t, top_right, oos)  # below t: routed to out_of_scope
        said_oos = (conf < t) | (top == OUT_OF_SCOPE)
        if objective == "accuracy":
            score = float(right.mean())
        else:
            score = 0.5 * (float(right[~oos].mean()) + float(said_oos[oos].mean()))
        if score > best_score + 1e-12:
            best_t, best_score = float(t), score
    return best_t, intent_metrics(gold, routed_labels(probs, labels, best_t))


def confusion_png(gold: Sequence[str], routed: Sequence[str], path: str, title: str = "") -> str:
    """A confusion-matrix heat map (rows gold, columns routed; row-normalised) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted(set(gold) | set(routed))
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)))
    for g, r in zip(gold, routed):
        matrix[index[g], index[r]] += 1
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = max(6.0, 0.12 * len(labels) + 4)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    if len(labels) <= 40:
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        for i in range(len(labels)):
            for j in range(len(labels)):
                if matrix[i, j]:
                    ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if normalised[i, j] > 0.5 else "black")
    ax.set_xlabel("routed")
    ax.set_ylabel("gold")
    ax.set_title(title or f"{len(gold)} messages")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

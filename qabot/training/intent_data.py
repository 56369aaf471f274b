"""Labelled messages for intent training and evaluation.

Accepted files:
- an intent set (``.yaml``/``.csv``, see ``qabot.intents.intentset``): its examples;
- CLINC150-style JSON (``{"train": [[text, label], ...], "val": ..., "test": ...,
  "oos_train": ...}``): the named split plus its ``oos_`` split, whose label (``oos``) becomes
  ``out_of_scope``.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from qabot.intents.intentset import (
    OUT_OF_SCOPE,
    Intent,
    IntentSet,
    IntentSetError,
    read_entries,
    validate,
)

CLINC_OOS = "oos"


@dataclass(frozen=True)
class Labelled:
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))


def load_labelled(path: str | Path, split: str = "train") -> tuple[Labelled, IntentSet]:
    """(messages, the intent set they define) from an intent file or a CLINC150-style split."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return _clinc(path, split)
    entries = read_entries(path)
    intent_set = validate(entries, str(path))
    texts, labels = [], []  # every message, repeats included: a test set is scored whole
    for entry in entries:
        for text in entry.get("examples") or []:
            if isinstance(text, str) and text.strip():
                texts.append(text.strip())
                labels.append(str(entry["name"]).strip())
    return Labelled(texts, labels), intent_set


def _clinc(path: Path, split: str) -> tuple[Labelled, IntentSet]:
    if not path.is_file():
        raise IntentSetError(f"data file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntentSetError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or split not in data:
        keys = ", ".join(data) if isinstance(data, dict) else "none"
        raise IntentSetError(f"{path}: no split {split!r} (has: {keys})")
    rows = list(data[split]) + list(data.get(f"oos_{split}", []))
    texts = [str(text) for text, _ in rows]
    labels = [OUT_OF_SCOPE if label == CLINC_OOS else str(label) for _, label in rows]
    by_label: dict[str, list[str]] = defaultdict(list)
    for text, label in zip(texts, labels):
        by_label[label].append(text)
    intents = tuple(
        Intent(name, "fallback" if name == OUT_OF_SCOPE else "answer", tuple(examples))
        for name, examples in sorted(by_label.items()))
    return Labelled(texts, labels), IntentSet(intents, str(path))


def stratified_split(data: Labelled, fraction: float, seed: int) -> tuple[Labelled, Labelled]:
    """(train, validation): ``fraction`` of every class with at least 3 examples held out
    (at least one each), seeded."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(data.labels):
        by_label[label].append(i)
    held: set[int] = set()
    for label in sorted(by_label):
        idx = by_label[label]
        if len(idx) >= 3:
            held |= set(rng.sample(idx, max(1, round(fraction * len(idx)))))
    train = [i for i in range(len(data)) if i not in held]
    val = sorted(held)
    return (Labelled([data.texts[i] for i in train], [data.labels[i] for i in train]),
            Labelled([data.texts[i] for i in val], [data.labels[i] for i in val]))


def per_class(data: Labelled, n: int, seed: int) -> Labelled:
    """At most ``n`` examples of every class, drawn with the seed (few-shot benchmarks)."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(data.labels):
        by_label[label].append(i)
    keep = sorted(i for label in sorted(by_label)
                  for i in rng.sample(by_label[label], min(n, len(by_label[label]))))
    return Labelled([data.texts[i] for i in keep], [data.labels[i] for i in keep])

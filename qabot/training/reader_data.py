"""The reader's training mixture: sources with their own article lists, a validation set carved
from the training data, same-article negatives, and a seeded sample.

Pure functions over ``QAExample`` lists, so the choices are testable without a model:
- ``split_validation``: whole articles of one file held out (never trained on) to choose the
  no-answer threshold;
- ``same_article_negatives``: an answerable question paired with another paragraph of its own
  article that does not hold the answer, the paragraph sharing the most words with the question
  (what a retriever hands the reader: the right article, the wrong passage). No SQuAD v2.0
  train set exists here, so these teach the reader to abstain;
- ``sample``: a seeded slice of a seeded permutation, so that a later run can take the next
  slice (``offset``) and continue from the model the first one shipped.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qabot.reader.decode import normalize_answer
from qabot.training.squad import (
    QAExample,
    TrainingSet,
    load_squad,
    parse_source,
    training_examples,
)

if TYPE_CHECKING:
    from qabot.training.reader_training import ReaderTrainConfig

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and are as at be by did do does for from had has have how in is it its of on or "
    "that the their this to was were what when where which who whom whose why with".split()
)


def split_validation(
    examples: list[QAExample], candidates: Iterable[str], n_articles: int, seed: int
) -> tuple[list[QAExample], list[QAExample]]:
    """(train, validation): ``n_articles`` titles drawn (seeded) from ``candidates`` go to
    validation whole, so no validation paragraph is ever trained on."""
    pool = sorted(set(candidates))
    if n_articles <= 0 or not pool:
        return examples, []
    if n_articles >= len(pool):
        raise ValueError(f"cannot hold out {n_articles} of {len(pool)} articles for validation")
    held = set(random.Random(seed).sample(pool, n_articles))
    return ([e for e in examples if e.title not in held],
            [e for e in examples if e.title in held])


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def same_article_negatives(
    examples: list[QAExample], fraction: float, seed: int
) -> list[QAExample]:
    """Unanswerable examples: for a seeded ``fraction`` of the answerable questions, the
    question against the other paragraph of its article that shares the most content words
    with it and contains none of its answers (normalised). Questions whose article has no such
    paragraph give none."""
    if fraction <= 0:
        return []
    paragraphs: dict[str, list[str]] = defaultdict(list)
    for e in examples:
        if e.context not in paragraphs[e.title]:
            paragraphs[e.title].append(e.context)
    words = {c: content_words(c) for ps in paragraphs.values() for c in ps}
    normalised = {c: normalize_answer(c) for c in words}
    answerable = [e for e in examples if e.answers]
    rng = random.Random(seed)
    chosen = answerable if fraction >= 1 else rng.sample(
        answerable, round(fraction * len(answerable)))
    negatives = []
    for e in chosen:
        q = content_words(e.question)
        golds = [normalize_answer(a.text) for a in e.answers]
        best, best_overlap = None, -1
        for c in paragraphs[e.title]:
            if c == e.context or any(g and g in normalised[c] for g in golds):
                continue
            overlap = len(q & words[c])
            if overlap > best_overlap:
                best, best_overlap = c, overlap
        if best is not None:
            negatives.append(QAExample(f"{e.id}-neg", e.title, e.question, best))
    return negatives


def sample(examples: list[QAExample], n: int | None, offset: int, seed: int
           ) -> list[QAExample]:
    """``examples[perm[offset : offset + n]]`` for a permutation fixed by ``seed``; with no
    ``n``, every example from ``offset`` on. Kept in the original order."""
    if n is None and offset == 0:
        return examples
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    keep = order[offset:] if n is None else order[offset : offset + n]
    return [examples[i] for i in sorted(keep)]


def write_squad(examples: list[QAExample], path: str | Path) -> Path:
    """Examples as a SQuAD v2.0-format file (one paragraph per example), readable by
    ``load_squad`` and ``qabot eval reader``."""
    articles: dict[str, list[dict]] = defaultdict(list)
    for e in examples:
        articles[e.title].append({"context": e.context, "qas": [{
            "id": e.id, "question": e.question, "is_impossible": e.is_impossible,
            "answers": [{"text": a.text, "answer_start": a.start} for a in e.answers],
        }]})
    data = {"version": "v2.0", "data": [{"title": t, "paragraphs": ps}
                                        for t, ps in articles.items()]}
    path = Path(path)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@dataclass(frozen=True)
class TrainingData:
    """What step 2 chose: the merged sources, the examples trained on, and validation."""

    merged: TrainingSet
    examples: list[QAExample]
    negatives: int  # same-article negatives made (before sampling)
    validation: list[QAExample]


def training_data(cfg: ReaderTrainConfig) -> TrainingData:
    """Merge the sources, hold out validation articles, add same-article negatives, sample."""
    data = training_examples(cfg.train_files, cfg.titles)
    first = parse_source(cfg.train_files[0])
    first_titles = {e.title for e in load_squad(first.file, first.titles or cfg.titles)}
    train, val = split_validation(data.examples, first_titles, cfg.val_articles, cfg.seed)
    negatives = same_article_negatives(train, cfg.same_article_negatives, cfg.seed)
    examples = sample(train + negatives, cfg.sample, cfg.sample_offset, cfg.seed)
    examples = examples[: cfg.limit] if cfg.limit else examples
    if val:
        val = val + same_article_negatives(val, 1.0, cfg.seed)
    return TrainingData(data, examples, len(negatives), val)

"""Training triplets for the dense retriever: (question, its paragraph, a hard negative).

- ``pairs``: every answerable SQuAD-format question with the paragraph that answers it (one
  pair per distinct question and paragraph);
- ``hard_negatives``: for each pair, the paragraph BM25 ranks highest for the question among
  the other paragraphs of the corpus that contain none of its answers (what a lexical
  retriever would wrongly return; DPR's recipe), or none when there is no such paragraph;
- ``sample``: a seeded subset, so a later run can continue with the next slice.
In-batch negatives come from the loss (every other positive of the batch).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from qabot.reader.decode import normalize_answer
from qabot.training.squad import QAExample


@dataclass(frozen=True)
class Triplet:
    question: str
    positive: str
    negative: str | None  # None: no hard negative found
    title: str


def pairs(examples: Iterable[QAExample]) -> list[Triplet]:
    """(question, paragraph) of every answerable example, without duplicates, in file order."""
    seen: set[tuple[str, str]] = set()
    out = []
    for e in examples:
        if e.is_impossible or (e.question, e.context) in seen:
            continue
        seen.add((e.question, e.context))
        out.append(Triplet(e.question, e.context, None, e.title))
    return out


def hard_negatives(triplets: Sequence[Triplet], answers: Sequence[Sequence[str]], *,
                   depth: int = 10, progress: Callable | None = None) -> list[Triplet]:
    """Each triplet with the best-ranked BM25 paragraph (of the first ``depth``) that is not
    its positive and holds none of its (normalised) answers."""
    from indexer.bm25 import BM25

    paragraphs = list(dict.fromkeys(t.positive for t in triplets))
    index = BM25(enumerate(paragraphs))
    normalised = [normalize_answer(p) for p in paragraphs]
    out = []
    items = zip(triplets, answers)
    for t, golds in (progress(items) if progress else items):
        wanted = [normalize_answer(a) for a in golds if normalize_answer(a)]
        negative = None
        for row, _ in index.search(t.question, depth):
            if paragraphs[row] != t.positive and not any(a in normalised[row] for a in wanted):
                negative = paragraphs[row]
                break
        out.append(Triplet(t.question, t.positive, negative, t.title))
    return out


def sample(triplets: Sequence[Triplet], n: int | None, offset: int = 0,
           seed: int = 13) -> list[Triplet]:
    """``n`` triplets from position ``offset`` of a seeded permutation (all when n is None)."""
    order = list(range(len(triplets)))
    random.Random(seed).shuffle(order)
    chosen = order[offset:] if n is None else order[offset:offset + n]
    return [triplets[i] for i in chosen]

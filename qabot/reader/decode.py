"""Pure span decoding from raw start/end logits (no softmax: scores stay comparable across
windows and passages, as in BERT's SQuAD recipe).

A span's score is ``start_logit[i] + end_logit[j]``; the null (no-answer) score of a window is
the same sum at the [CLS] position (index 0).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces. Used to
    merge identical answers and by the SQuAD metric."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


@dataclass(frozen=True)
class Span:
    start_token: int
    end_token: int
    score: float  # start_logit + end_logit
    start_char: int  # offsets into the window's passage
    end_char: int


def null_score(start_logits: np.ndarray, end_logits: np.ndarray) -> float:
    return float(start_logits[0] + end_logits[0])


def best_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Sequence[tuple[int, int] | None],
    *,
    n_best: int = 20,
    max_answer_tokens: int = 30,
) -> list[Span]:
    """The best-scoring valid spans of one window, best first.

    Valid: both ends are context tokens (``offsets[i]`` is not None), ``end >= start``, and at
    most ``max_answer_tokens`` tokens long. Only the ``n_best`` top start and end positions are
    combined (as in the reference implementation), so the cost is O(n_best^2).
    """
    start_logits = np.asarray(start_logits, dtype=np.float32)
    end_logits = np.asarray(end_logits, dtype=np.float32)
    context = np.array([o is not None for o in offsets[: len(start_logits)]], dtype=bool)
    if not context.any():
        return []
    masked_start = np.where(context, start_logits, -np.inf)
    masked_end = np.where(context, end_logits, -np.inf)
    k = min(n_best, int(context.sum()))
    starts = np.argsort(-masked_start, kind="stable")[:k]
    ends = np.argsort(-masked_end, kind="stable")[:k]
    spans = []
    for s in starts:
        for e in ends:
            if e < s or e - s + 1 > max_answer_tokens:
                continue
            spans.append(
                Span(int(s), int(e), float(start_logits[s] + end_logits[e]),
                     offsets[s][0], offsets[e][1])
            )
    spans.sort(key=lambda sp: (-sp.score, sp.start_token, sp.end_token))
    return spans[:n_best]

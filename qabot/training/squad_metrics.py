"""The official SQuAD v1.1 / v2.0 evaluation, written here (the ``evaluate`` package downloads
its metric at run time and fails offline).

Normalisation: lower case, no punctuation, no articles (a/an/the), single spaces. EM and F1 are
the maximum over the gold answers; an unanswerable question (v2.0) scores 1 only for an empty
prediction. ``best_threshold`` is the official "best_f1_thresh" search over no-answer scores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from qabot.reader.decode import normalize_answer

__all__ = ["best_threshold", "exact_match", "f1_score", "normalize_answer", "score_one",
           "squad_scores"]


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:  # v2.0: both empty is a match
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def score_one(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(EM, F1) of one prediction: max over gold answers; no gold answers means unanswerable."""
    golds = [g for g in golds if normalize_answer(g)] or [""]
    return (max(exact_match(prediction, g) for g in golds),
            max(f1_score(prediction, g) for g in golds))


def squad_scores(
    predictions: Mapping[str, str], golds: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """EM/F1 in percent over every question in ``golds`` (a missing prediction scores 0),
    with the HasAns / NoAns breakdown when both kinds are present."""
    em, f1 = {}, {}
    for qid, answers in golds.items():
        em[qid], f1[qid] = score_one(predictions.get(qid, ""), answers)
    out = {"exact": _pct(em.values()), "f1": _pct(f1.values()), "total": len(golds)}
    has = [q for q, a in golds.items() if any(normalize_answer(x) for x in a)]
    no = [q for q in golds if q not in set(has)]
    if has and no:
        out.update(HasAns_exact=_pct(em[q] for q in has), HasAns_f1=_pct(f1[q] for q in has),
                   HasAns_total=len(has), NoAns_exact=_pct(em[q] for q in no),
                   NoAns_f1=_pct(f1[q] for q in no), NoAns_total=len(no))
    return out


def best_threshold(
    predictions: Mapping[str, str],
    na_scores: Mapping[str, float],
    golds: Mapping[str, Sequence[str]],
    metric: str = "f1",
) -> tuple[float, float]:
    """(best score in percent, threshold): predict "no answer" when na_score > threshold.

    Same procedure as the official v2.0 script: start from answering nothing, then sweep the
    questions by increasing no-answer score, answering each in turn.
    """
    scores = {}
    for qid, answers in golds.items():
        em, f1 = score_one(predictions.get(qid, ""), answers)
        scores[qid] = f1 if metric == "f1" else em
    has_answer = {q: bool([a for a in golds[q] if normalize_answer(a)]) for q in golds}
    current = sum(1.0 for q in golds if not has_answer[q])
    best, best_thresh = current, 0.0
    ordered = sorted(golds, key=lambda q: na_scores.get(q, 0.0))
    for qid in ordered:
        if not predictions.get(qid):
            continue  # an empty prediction does not change when answered
        if has_answer[qid]:
            current += scores[qid]
        else:
            current -= 1.0
        if current > best:
            best, best_thresh = current, na_scores.get(qid, 0.0)
    return 100.0 * best / max(len(golds), 1), best_thresh


def _pct(values) -> float:
    values = list(values)
    return 100.0 * sum(values) / len(values) if values else 0.0

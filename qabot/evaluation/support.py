"""The whole bot on a support question set: what a support team counts.

1. ``load_questions``: the question file (``questions``: objects with ``q``, ``article``,
   ``answers`` and an optional ``type``; ``unanswerable``: strings or objects with ``q``).
2. ``run_support_eval``: each question in a fresh conversation through ``ChatEngine.respond``.
3. ``score_reply`` (pure), for an answerable question:
   - *correct*: the reply asserts an answer (kind ``answer`` or ``faq``) containing one of its
     answer strings (case-insensitive, ``contains_answer``); *wrong*: one without; otherwise
     *abstained* (a ``related`` reply asserts nothing: it abstains);
   - *resolved*: a reply of kind ``answer``, ``faq`` or ``related`` whose text contains an answer
     string and is at most ``RESOLVED_MAX_CHARS`` (700) characters long; *misleading*: an
     asserted answer (``answer``, ``faq``) that is not resolved;
   - source@1 / source@5: the article is the first / any of the first five sources of an
     ``answer``, ``faq`` or ``related`` reply (``source_matches``: the source's path without
     its suffix, or its bare file stem for a flat knowledge base).
   An unanswerable question should get no answer and, better, no ``related`` reply either.
4. Two confidence points per reply. The *answer curve* (kept as it was): the confidence of the
   would-be answer (the asserted answer, or the candidate a ``fallback`` or ``related`` reply
   withheld) and whether it is correct. The *related curve*: the confidence (``Reply.score``) of
   the text the user sees or would see (an ``answer``, ``faq`` or ``related`` reply's text, or
   the candidate a ``fallback`` withheld) and whether that text would resolve the question if
   shown (*resolved-if-shown*: it holds an answer string within 700 characters).
5. ``summarize``: the dict of metrics: today's counts, the support counts (``resolved``,
   ``misleading``, ``related``, ``related_resolved``, ``unanswerable_answered``,
   ``unanswerable_related``, ``reply_chars_p50`` / ``_p95`` over all replies), ``by_type``,
   ``tiers`` (for each of answer, faq, related, fallback: replies, resolved, with_answer: the
   reply text holds an answer string at any length, unanswerable: replies to unanswerable
   questions), and both curves (``curve``, ``related_curve``).
6. ``write_outputs``: questions.csv, curve.csv, curve_related.csv, curve.png, summary.json.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from qabot.errors import QabotError
from qabot.evaluation.curves import (
    CurveItem,
    coverage_precision_curve,
    operating_point,
    plot_curve,
    write_curve_csv,
)

ANSWERED = ("answer", "faq")  # the kinds that assert an answer
SHOWN = ("answer", "faq", "related")  # the kinds whose text may resolve a question
TIERS = ("answer", "faq", "related", "fallback")  # the reply tiers ``summarize`` breaks down
RESOLVED_MAX_CHARS = 700  # a longer reply does not resolve a question, even holding the answer
SOURCES_AT = 5


class QuestionFileError(QabotError):
    """The question file is missing, not JSON, or an item lacks what it needs."""


@dataclass(frozen=True)
class SupportQuestion:
    id: str  # q1, q2, ... (answerable), u1, u2, ... (unanswerable)
    text: str
    # the article that answers it: its path in the knowledge base without the suffix, or its
    # file stem; None: none does
    article: str | None = None
    answers: tuple[str, ...] = ()  # a right reply contains one of these
    type: str = ""

    @property
    def answerable(self) -> bool:
        return self.article is not None


@dataclass(frozen=True)
class Verdict:
    """One reply, scored (see ``score_reply``)."""

    answered: bool  # an asserted answer (answer, faq)
    correct: bool
    source_at_1: bool
    source_at_5: bool
    confidence: float | None  # of the would-be answer; None: there is none
    would_be_correct: bool
    resolved: bool = False  # holds an answer within RESOLVED_MAX_CHARS (answer, faq, related)
    misleading: bool = False  # asserted and not resolved
    with_answer: bool = False  # the reply text holds an answer, whatever its length
    shown_confidence: float | None = None  # of the shown or withheld text; None: there is none
    resolved_if_shown: bool = False  # that text would resolve the question


@dataclass(frozen=True)
class SupportResult:
    question: SupportQuestion
    kind: str
    verdict: Verdict
    latency_ms: float
    sources: tuple[str, ...]  # the reply's source files
    reply: str
    candidate: str | None


def load_questions(path: str | Path) -> list[SupportQuestion]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QuestionFileError(f"question file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise QuestionFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not ({"questions", "unanswerable"} & data.keys()):
        raise QuestionFileError(f"{path}: expected a JSON object with a 'questions' and/or an "
                                "'unanswerable' list")
    out = []
    for key in ("questions", "unanswerable"):
        items = data.get(key, [])
        if not isinstance(items, list):
            raise QuestionFileError(f"{path}: '{key}' must be a list, got {type(items).__name__}")
        for n, item in enumerate(items):
            where = f"{path}: {key}[{n}]"
            out.append(_answerable(item, where, f"q{n + 1}") if key == "questions"
                       else _unanswerable(item, where, f"u{n + 1}"))
    if not out:
        raise QuestionFileError(f"{path}: no questions")
    return out


def _text(item: dict, key: str, where: str) -> str:
    if key not in item:
        raise QuestionFileError(f"{where}: missing '{key}'")
    value = item[key]
    if not isinstance(value, str) or not value.strip():
        raise QuestionFileError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    return value.strip()


def _answerable(item, where: str, qid: str) -> SupportQuestion:
    if not isinstance(item, dict):
        raise QuestionFileError(f"{where}: expected an object with 'q', 'article' and "
                                f"'answers', got {item!r}")
    answers = item.get("answers")
    if answers is None:
        raise QuestionFileError(f"{where}: missing 'answers'")
    if (not isinstance(answers, list) or not answers
            or not all(isinstance(a, str) and a.strip() for a in answers)):
        raise QuestionFileError(f"{where}: 'answers' must be a non-empty list of strings, "
                                f"got {answers!r}")
    return SupportQuestion(qid, _text(item, "q", where), _text(item, "article", where),
                           tuple(a.strip() for a in answers), str(item.get("type") or ""))


def _unanswerable(item, where: str, qid: str) -> SupportQuestion:
    if isinstance(item, str) and item.strip():
        return SupportQuestion(qid, item.strip(), type="unanswerable")
    if not isinstance(item, dict):
        raise QuestionFileError(f"{where}: expected a string or an object with 'q', "
                                f"got {item!r}")
    return SupportQuestion(qid, _text(item, "q", where),
                           type=str(item.get("type") or "unanswerable"))


# ------------------------------------------------------------------------------ scoring (pure)

def contains_answer(text: str | None, answers: Sequence[str]) -> bool:
    """Does ``text`` contain one of ``answers`` (case-insensitive)?"""
    if not text:
        return False
    folded = text.casefold()
    return any(a.casefold() in folded for a in answers)


def resolves(text: str | None, answers: Sequence[str]) -> bool:
    """Does ``text`` hold one of ``answers`` within ``RESOLVED_MAX_CHARS`` characters?"""
    return (text is not None and len(text) <= RESOLVED_MAX_CHARS
            and contains_answer(text, answers))


def source_matches(source: str, article: str) -> bool:
    """Is ``source`` (a file relative to the knowledge base) the article ``article``? Its path
    without the suffix, as posix (``"Sync/Plans.md"`` is ``"Sync/Plans"``), or its bare file
    stem (``"docs/refunds.md"`` is ``"refunds"``, for a flat knowledge base)."""
    if not source:
        return False
    path = PurePosixPath(Path(source).as_posix())
    return path.with_suffix("").as_posix() == article or path.stem == article


def would_be_reply(reply) -> str | None:
    """The answer the bot asserts (answer, FAQ) or withheld for low confidence (the candidate
    of a fallback or related reply): the answer curve's reply."""
    if reply.kind in ANSWERED:
        return reply.text
    return reply.candidate if reply.kind in ("fallback", "related") else None


def shown_reply(reply) -> str | None:
    """The text the user sees (answer, FAQ, related) or would see (a fallback's withheld
    candidate): the related curve's reply."""
    if reply.kind in SHOWN:
        return reply.text
    return reply.candidate if reply.kind == "fallback" else None


def score_reply(question: SupportQuestion, reply) -> Verdict:
    """How a reply (a ``Reply``) fares on a question (the rules in the module docstring)."""
    answered = reply.kind in ANSWERED
    would_be, shown = would_be_reply(reply), shown_reply(reply)
    confidence = reply.score if would_be is not None else None
    shown_confidence = reply.score if shown is not None else None
    if not question.answerable:
        return Verdict(answered, False, False, False, confidence, False,
                       shown_confidence=shown_confidence)
    answers, article = question.answers, question.article
    cited = [s.source for s in reply.sources[:SOURCES_AT]] if reply.kind in SHOWN else []
    resolved = reply.kind in SHOWN and resolves(reply.text, answers)
    return Verdict(answered=answered,
                   correct=answered and contains_answer(reply.text, answers),
                   source_at_1=bool(cited) and source_matches(cited[0], article),
                   source_at_5=any(source_matches(s, article) for s in cited),
                   confidence=confidence,
                   would_be_correct=contains_answer(would_be, answers),
                   resolved=resolved,
                   misleading=answered and not resolved,
                   with_answer=contains_answer(reply.text, answers),
                   shown_confidence=shown_confidence,
                   resolved_if_shown=resolves(shown, answers))


# ------------------------------------------------------------------------------ the run

def run_support_eval(engine, questions: Sequence[SupportQuestion], *,
                     progress: bool = False, channel: str = "eval") -> list[SupportResult]:
    """Ask every question in a fresh conversation of its own, with ``engine.respond``."""
    from tqdm import tqdm

    results = []
    for q in tqdm(questions, disable=not progress, desc="questions", unit="q"):
        conversation = engine.start(channel, q.id)
        reply = engine.respond(conversation, q.text)
        results.append(SupportResult(q, reply.kind, score_reply(q, reply), reply.latency_ms,
                                     tuple(s.source for s in reply.sources), reply.text,
                                     reply.candidate))
    return results


def _percentile(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if len(values) else 0.0


def tier_counts(results: Sequence[SupportResult]) -> dict[str, dict[str, int]]:
    """For each tier (``TIERS``): its replies, how many resolved their question, how many held
    an answer string (at any length), and how many answered an unanswerable question."""
    tiers = {kind: {"replies": 0, "resolved": 0, "with_answer": 0, "unanswerable": 0}
             for kind in TIERS}
    for r in results:
        if r.kind in tiers:
            t = tiers[r.kind]
            t["replies"] += 1
            t["resolved"] += int(r.verdict.resolved)
            t["with_answer"] += int(r.verdict.with_answer)
            t["unanswerable"] += int(not r.question.answerable)
    return tiers


def summarize(results: Sequence[SupportResult], *, target_precision: float = 0.9) -> dict:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    correct = sum(r.verdict.correct for r in answerable)
    answered = sum(r.verdict.answered for r in answerable)
    unanswerable_answered = sum(r.verdict.answered for r in unanswerable)
    all_answered = answered + unanswerable_answered
    latency = [r.latency_ms for r in results]
    chars = [len(r.reply) for r in results]
    curve = coverage_precision_curve([CurveItem(r.verdict.confidence, r.verdict.would_be_correct)
                                      for r in results])
    related_curve = coverage_precision_curve([
        CurveItem(r.verdict.shown_confidence, r.verdict.resolved_if_shown) for r in results])
    target = operating_point(curve, target_precision)
    by_type: dict[str, dict] = {}
    for r in results:
        t = by_type.setdefault(r.question.type or "-", {"questions": 0, "answered": 0,
                                                        "correct": 0, "resolved": 0})
        t["questions"] += 1
        t["answered"] += r.verdict.answered
        t["correct"] += r.verdict.correct
        t["resolved"] += r.verdict.resolved
    related = [r for r in answerable if r.kind == "related"]
    return {
        "questions": len(answerable),
        "correct": correct,
        "wrong": answered - correct,
        "abstained": len(answerable) - answered,
        "unanswerable": len(unanswerable),
        "unanswerable_abstained": len(unanswerable) - unanswerable_answered,
        "source_at_1": sum(r.verdict.source_at_1 for r in answerable),
        "source_at_5": sum(r.verdict.source_at_5 for r in answerable),
        "precision": round(correct / all_answered, 4) if all_answered else None,
        "coverage": round(all_answered / len(results), 4) if results else 0.0,
        "p50_ms": _percentile(latency, 50),
        "p95_ms": _percentile(latency, 95),
        "resolved": sum(r.verdict.resolved for r in answerable),
        "misleading": sum(r.verdict.misleading for r in answerable),
        "related": len(related),
        "related_resolved": sum(r.verdict.resolved for r in related),
        "unanswerable_answered": unanswerable_answered,
        "unanswerable_related": sum(r.kind == "related" for r in unanswerable),
        "reply_chars_p50": _percentile(chars, 50),
        "reply_chars_p95": _percentile(chars, 95),
        "by_type": by_type,
        "tiers": tier_counts(results),
        "target_precision": target_precision,
        "operating_point": target.to_dict() if target else None,
        "curve": [p.to_dict() for p in curve],
        "related_curve": [p.to_dict() for p in related_curve],
    }


ROW_FIELDS = ("id", "type", "question", "article", "kind", "answered", "correct", "resolved",
              "misleading", "source_at_1", "source_at_5", "confidence", "would_be_correct",
              "latency_ms", "reply_chars", "sources", "reply", "candidate")


def result_row(r: SupportResult) -> dict:
    """One question's CSV row."""
    v = r.verdict
    return {"id": r.question.id, "type": r.question.type, "question": r.question.text,
            "article": r.question.article or "", "kind": r.kind, "answered": int(v.answered),
            "correct": int(v.correct), "resolved": int(v.resolved),
            "misleading": int(v.misleading), "source_at_1": int(v.source_at_1),
            "source_at_5": int(v.source_at_5),
            "confidence": "" if v.confidence is None else v.confidence,
            "would_be_correct": int(v.would_be_correct), "latency_ms": round(r.latency_ms, 1),
            "reply_chars": len(r.reply), "sources": " | ".join(r.sources), "reply": r.reply,
            "candidate": r.candidate or ""}


def write_outputs(results: Sequence[SupportResult], summary: dict, out_dir: Path) -> dict:
    """questions.csv, curve.csv, curve_related.csv, curve.png and summary.json in ``out_dir``;
    their paths."""
    from qabot.evaluation.curves import CurvePoint

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = out_dir / "questions.csv"
    with rows.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=ROW_FIELDS)
        writer.writeheader()
        writer.writerows(result_row(r) for r in results)
    curve = [CurvePoint(**p) for p in summary["curve"]]
    target = summary["operating_point"]
    configured = ((summary["coverage"], summary["precision"])
                  if summary["precision"] is not None else None)
    related = [CurvePoint(**p) for p in summary["related_curve"]]
    paths = {"questions": rows, "curve_csv": write_curve_csv(curve, out_dir / "curve.csv"),
             "curve_related_csv": write_curve_csv(related, out_dir / "curve_related.csv"),
             "curve_png": plot_curve(curve, out_dir / "curve.png", configured=configured,
                                     target=CurvePoint(**target) if target else None,
                                     title="coverage-precision over the answer confidence"),
             "summary": out_dir / "summary.json"}
    paths["summary"].write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return paths

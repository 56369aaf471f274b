"""The whole bot on a support question set: right answers, wrong answers, abstentions.

1. ``load_questions``: the question file (``questions``: objects with ``q``, ``article``,
   ``answers`` and an optional ``type``; ``unanswerable``: strings or objects with ``q``).
2. ``run_support_eval``: each question in a fresh conversation through ``ChatEngine.respond``.
3. ``score_reply`` (pure): an answerable question is *correct* when the reply is an answer or
   FAQ answer containing one of its answer strings (case-insensitive), *wrong* when it is one
   without, otherwise *abstained*; source@1 / source@5: the article (a file stem) is the first /
   any of the first five sources of an answered reply. An unanswerable question should get no
   answer. Every reply also gives its confidence and whether its would-be reply (the answer, or
   the candidate a fallback withheld) is right: a point for the coverage-precision curve.
4. ``summarize``: the dict of metrics; ``write_outputs``: questions.csv, curve.csv, curve.png,
   summary.json.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qabot.errors import QabotError
from qabot.evaluation.curves import (
    CurveItem,
    coverage_precision_curve,
    operating_point,
    plot_curve,
    write_curve_csv,
)

ANSWERED = ("answer", "faq")
SOURCES_AT = 5


class QuestionFileError(QabotError):
    """The question file is missing, not JSON, or an item lacks what it needs."""


@dataclass(frozen=True)
class SupportQuestion:
    id: str  # q1, q2, ... (answerable), u1, u2, ... (unanswerable)
    text: str
    article: str | None = None  # the file stem of the article that answers it; None: none does
    answers: tuple[str, ...] = ()  # a right reply contains one of these
    type: str = ""

    @property
    def answerable(self) -> bool:
        return self.article is not None


@dataclass(frozen=True)
class Verdict:
    """One reply, scored (see ``score_reply``)."""

    answered: bool
    correct: bool
    source_at_1: bool
    source_at_5: bool
    confidence: float | None  # of the would-be reply; None: there is none
    would_be_correct: bool


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


def would_be_reply(reply) -> str | None:
    """The reply text the bot sends (answer, FAQ) or withheld for low confidence (fallback)."""
    if reply.kind in ANSWERED:
        return reply.text
    return reply.candidate if reply.kind == "fallback" else None


def score_reply(question: SupportQuestion, reply) -> Verdict:
    """How a reply (a ``Reply``) fares on a question (the rules in the module docstring)."""
    answered = reply.kind in ANSWERED
    would_be = would_be_reply(reply)
    confidence = reply.score if would_be is not None else None
    if not question.answerable:
        return Verdict(answered, False, False, False, confidence, False)
    stems = [Path(s.source).stem for s in reply.sources[:SOURCES_AT]] if answered else []
    return Verdict(answered=answered,
                   correct=answered and contains_answer(reply.text, question.answers),
                   source_at_1=bool(stems) and stems[0] == question.article,
                   source_at_5=question.article in stems,
                   confidence=confidence,
                   would_be_correct=contains_answer(would_be, question.answers))


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


def summarize(results: Sequence[SupportResult], *, target_precision: float = 0.9) -> dict:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    correct = sum(r.verdict.correct for r in answerable)
    answered = sum(r.verdict.answered for r in answerable)
    unanswerable_answered = sum(r.verdict.answered for r in unanswerable)
    all_answered = answered + unanswerable_answered
    latency = [r.latency_ms for r in results]
    curve = coverage_precision_curve([CurveItem(r.verdict.confidence, r.verdict.would_be_correct)
                                      for r in results])
    target = operating_point(curve, target_precision)
    by_type: dict[str, dict] = {}
    for r in results:
        t = by_type.setdefault(r.question.type or "-", {"questions": 0, "answered": 0,
                                                        "correct": 0})
        t["questions"] += 1
        t["answered"] += r.verdict.answered
        t["correct"] += r.verdict.correct
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
        "p50_ms": round(float(np.percentile(latency, 50)), 1) if latency else 0.0,
        "p95_ms": round(float(np.percentile(latency, 95)), 1) if latency else 0.0,
        "by_type": by_type,
        "target_precision": target_precision,
        "operating_point": target.to_dict() if target else None,
        "curve": [p.to_dict() for p in curve],
    }


ROW_FIELDS = ("id", "type", "question", "article", "kind", "answered", "correct",
              "source_at_1", "source_at_5", "confidence", "would_be_correct", "latency_ms",
              "sources", "reply", "candidate")


def result_row(r: SupportResult) -> dict:
    """One question's CSV row."""
    v = r.verdict
    return {"id": r.question.id, "type": r.question.type, "question": r.question.text,
            "article": r.question.article or "", "kind": r.kind, "answered": int(v.answered),
            "correct": int(v.correct), "source_at_1": int(v.source_at_1),
            "source_at_5": int(v.source_at_5),
            "confidence": "" if v.confidence is None else v.confidence,
            "would_be_correct": int(v.would_be_correct), "latency_ms": round(r.latency_ms, 1),
            "sources": " | ".join(r.sources), "reply": r.reply, "candidate": r.candidate or ""}


def write_outputs(results: Sequence[SupportResult], summary: dict, out_dir: Path) -> dict:
    """questions.csv, curve.csv, curve.png and summary.json in ``out_dir``; their paths."""
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
    paths = {"questions": rows, "curve_csv": write_curve_csv(curve, out_dir / "curve.csv"),
             "curve_png": plot_curve(curve, out_dir / "curve.png", configured=configured,
                                     target=CurvePoint(**target) if target else None,
                                     title="coverage-precision over the answer confidence"),
             "summary": out_dir / "summary.json"}
    paths["summary"].write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return paths

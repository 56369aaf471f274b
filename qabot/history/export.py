"""Close the loop: rated answers -> SQuAD-format training data; unanswered questions -> CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from qabot.history.records import RatedAnswer, UnansweredQuestion


def feedback_to_squad(rated: Iterable[RatedAnswer]) -> tuple[dict, int]:
    """SQuAD v1.1-format data from answers users marked helpful: the passage is the context,
    the question the standalone question, the span the answer. Returns (data, skipped): FAQ
    replies and answers whose span is no longer at its offset are skipped."""
    articles: dict[str, dict[str, list]] = {}
    skipped = 0
    for item in rated:
        primary = item.answer.sources[0] if item.answer.sources else None
        span = _span(item)
        if (item.answer.kind != "answer" or primary is None or span is None
                or not item.question.strip()):
            skipped += 1
            continue
        context, start = primary["context"], primary["answer_start"]
        qa = {"id": f"qabot-feedback-{item.message_id}", "question": item.question,
              "answers": [{"text": span, "answer_start": start}]}
        title = primary.get("source") or primary.get("title") or "feedback"
        articles.setdefault(title, {}).setdefault(context, []).append(qa)
    data = [{"title": title, "paragraphs": [{"context": c, "qas": qas}
                                            for c, qas in paragraphs.items()]}
            for title, paragraphs in articles.items()]
    return {"version": "1.1", "source": "qabot feedback", "data": data}, skipped


def _span(item: RatedAnswer) -> str | None:
    """The answer span, checked against the stored passage."""
    primary = item.answer.sources[0] if item.answer.sources else None
    if not primary or primary.get("answer_start") is None or not primary.get("highlight"):
        return None
    a, b = primary["highlight"]
    span = primary["snippet"][a:b]
    start = primary["answer_start"]
    return span if span and primary["context"][start:start + len(span)] == span else None


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs: users' questions that begin like a
    formula (=, +, -, @, tab, carriage return) get a leading apostrophe (OWASP's advice)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_unanswered_csv(questions: Sequence[UnansweredQuestion], path: Path) -> None:
    """The unanswered questions as CSV for a spreadsheet (questions are made formula-safe)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["asked_at", "question", "best_score", "conversation_id"])
        for q in questions:
            writer.writerow([q.created_at.isoformat(timespec="seconds"),
                             spreadsheet_safe(q.question),
                             "" if q.best_score is None else f"{q.best_score:.3f}",
                             q.conversation_id])

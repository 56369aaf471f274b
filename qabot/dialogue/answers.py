"""Shaping the engine's answers: the cascade's decision record (``Outcome``), message clean-up,
FAQ answers read as passages, how-to steps, the citation and the text of an answer. Pure
functions over retrieved hits and reader answers."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar

from qabot.dialogue.replies import Source
from qabot.dialogue.snippets import sentence_around
from qabot.dialogue.steps import steps_in

if TYPE_CHECKING:
    from qabot.history.records import StoredMessage

STEPS_PASSAGES = 3  # a how-to question gets the steps of one of the top three passages ...
STEPS_MIN_SIMILARITY = 0.5  # ... that is at least this similar to the question


@dataclass
class Outcome:
    kind: str
    text: str
    intent: str | None = None
    confidence: float | None = None
    answer: str | None = None
    score: float | None = None
    sources: tuple[Source, ...] = ()
    topic: str | None = None  # the standalone question this message was about
    unanswered: bool = False
    candidate: str | None = None  # the withheld answer text of a fallback
    extra: dict = field(default_factory=dict)
    notice: str | None = None  # the line ``text`` starts with (the bot is back after a handoff)


def clean_text(text: object, max_chars: int) -> str:
    """Control characters dropped, whitespace collapsed, at most ``max_chars`` characters."""
    if not isinstance(text, str):
        return ""
    kept = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch
                   for ch in text[: max_chars * 2])
    return " ".join(kept.split())[:max_chars]


def same_words(text: str) -> str:
    """A question as the engine compares it with an FAQ's word for word: case, spacing and
    end punctuation aside."""
    return " ".join(text.casefold().split()).rstrip("?!. ")


def faq_outcome(faq, confidence: float, topic: str, seen: dict) -> Outcome:
    """An FAQ match (``faq.FaqMatch``) as the reply: its curated answer, cited by its row."""
    source = Source(title=faq.question, location=f"{faq.source}, row {faq.row}",
                    snippet=faq.question, source=faq.source, score=faq.score)
    return Outcome("faq", faq.answer, answer=faq.answer, score=round(confidence, 4),
                   sources=(source,), topic=topic, **seen)


def readable(text: str) -> bool:
    """Something to classify: a letter, a digit or a pictograph (emoji)."""
    return any(ch.isalnum() or unicodedata.category(ch) == "So" for ch in text)


@dataclass(frozen=True)
class FaqPassage:
    """An FAQ entry's curated answer, read as a passage."""

    text: str
    score: float
    source: str
    title: str
    location: str
    passage_id: int | None = None
    faq: ClassVar[bool] = True  # a curated answer: cited by its row, never linked

    @classmethod
    def of(cls, hit) -> FaqPassage:
        return cls(hit.answer, float(hit.score), hit.source, hit.question,
                   f"{hit.source}, row {hit.row}")


def steps_outcome(hits, best, said: StoredMessage | None) -> Outcome | None:
    """For a how-to question: the numbered steps of the best-ranked close passage (of the top
    three retrieved) that has them; the list around the reader's answer where there are
    several."""
    for rank, hit in enumerate(hits[:STEPS_PASSAGES]):
        if hit.score < STEPS_MIN_SIMILARITY:
            break
        near = best.start if best is not None and best.passage_index == rank else None
        found = steps_in(hit.text, near)
        if found is None:
            continue
        start, end = found
        steps = hit.text[start:end]
        if said is not None and steps in said.text:
            continue
        source = Source(hit.title, hit.location, steps, (0, len(steps)), hit.source,
                        hit.passage_id, round(float(hit.score), 4), hit.text, start)
        score = best.fused_score if near is not None else float(hit.score)
        return Outcome("answer", f"{steps}\n\nSource: {hit.location}", answer=steps,
                        score=round(score, 4), sources=(source,))
    return None


def repeats(answer, hit, said: StoredMessage | None) -> bool:
    """The answer is the one the last reply gave (its span, or its curated FAQ answer)."""
    if said is None:
        return False
    given = said.text.split("\n\n")[0].strip() if said.kind == "answer" else said.text.strip()
    return answer.text.strip() == given


def tidy(answer):
    """Trim whitespace and stray punctuation the span picked up at its edges."""
    text = answer.text
    lead = len(text) - len(text.lstrip(" \t\n.,;:)]-*|"))
    trail = len(text) - len(text.rstrip(" \t\n,;:([-*|"))
    if lead + trail == 0 or lead + trail >= len(text):
        return answer
    return replace(answer, text=text[lead:len(text) - trail], start=answer.start + lead,
                   end=answer.end - trail)


def find_words(text: str, answer: str) -> tuple[int, int] | None:
    """Where ``answer`` occurs in ``text`` as whole words, outside list numbering."""
    for m in re.finditer(re.escape(answer), text, re.IGNORECASE):
        a, b = m.span()
        if (a == 0 or not text[a - 1].isalnum()) and (b == len(text) or not text[b].isalnum()) \
                and not re.match(r"[.)]\s", text[b:b + 2]):
            return a, b
    return None


def source_of(hit, start: int | None = None, end: int | None = None) -> Source:
    text = hit.text
    if start is None or end is None:
        left, right = sentence_around(text, 0, 0)
        return Source(hit.title, hit.location, text[left:right], None, hit.source,
                      hit.passage_id, round(float(hit.score), 4), text, None)
    left, right = sentence_around(text, start, end)
    return Source(hit.title, hit.location, text[left:right], (start - left, end - left),
                  hit.source, hit.passage_id, round(float(hit.score), 4), text, start)


def answer_text(span: str, source: Source, *, steps: bool = False) -> str:
    """The reply: the span, the sentence it came from (quoted), the citation (with the
    article's link when it has one). Line breaks of hard-wrapped text inside the span or
    sentence read as spaces; the steps of a how-to answer keep their lines."""
    citation = f"Source: {source.location}" + (f" — {source.url}" if source.url else "")
    if steps:
        return f"{span}\n\n{citation}"
    span, snippet = " ".join(span.split()), " ".join(source.snippet.split())
    lines = [span]
    if snippet and snippet != span:
        lines.append(f"“{snippet}”")
    lines.append(citation)
    return "\n\n".join(lines)

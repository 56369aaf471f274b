"""SQuAD-format data: loading, article filters, and the choice of training answers.

Training data policy (see ``training_examples``):
- several files may hold the same article (SQuAD v2.0 dev is a subset of v1.1 dev with
  unanswerable questions added): the first file that has an article wins, so pass the v2.0 file
  first to get its unanswerable questions;
- when a ``<file>.answer_start_provenance.json`` sits next to a data file, answers whose
  ``answer_start`` was guessed (``heuristic_*``) are not used as training targets; a question
  left with no certain answer is dropped;
- answers are checked against their context: surrounding whitespace is trimmed, and an
  ``answer_start`` a few characters off (as in COVID-QA) moves to the nearest exact
  occurrence; an answer found only further away is kept for scoring but not trained on.
- an article without a ``title`` is named by its first paragraph's ``document_id``
  (COVID-QA), else ``article-N``, so ``--titles`` can split any file by document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CERTAIN = {"official", "unique"}
NEAR = 32  # characters: how far a stated answer_start may be off and still count as known


@dataclass(frozen=True)
class GoldAnswer:
    text: str
    start: int  # character offset in the context

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class QAExample:
    id: str
    title: str
    question: str
    context: str
    answers: tuple[GoldAnswer, ...] = ()  # empty for an unanswerable question
    certain: tuple[bool, ...] = ()  # per answer: offset known for sure

    @property
    def is_impossible(self) -> bool:
        return not self.answers


def provenance_path(path: Path) -> Path:
    return path.with_name(path.name.replace(".json", ".answer_start_provenance.json"))


def load_squad(path: str | Path, titles: Iterable[str] | None = None) -> list[QAExample]:
    """Examples of a SQuAD v1.1/v2.0 JSON file, optionally only the given article titles."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not SQuAD-format JSON ({exc})") from None
    if not isinstance(data, dict) or "data" not in data:
        raise ValueError(f"{path} is not SQuAD-format JSON (no 'data' key)")
    prov_file = provenance_path(path)
    provenance = json.loads(prov_file.read_text()) if prov_file.is_file() else {}
    wanted = set(titles) if titles is not None else None
    examples = []
    for number, article in enumerate(data["data"]):
        title = article_title(article, number)
        if wanted is not None and title not in wanted:
            continue
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                raw = [] if qa.get("is_impossible") else qa["answers"]
                anchored = [anchor(context, a["text"], int(a["answer_start"])) for a in raw]
                marks = provenance.get(qa["id"], ["official"] * len(raw))
                examples.append(
                    QAExample(
                        id=str(qa["id"]),
                        title=title,
                        question=qa["question"],
                        context=context,
                        answers=tuple(a for a, _ in anchored),
                        certain=tuple(m in CERTAIN and near
                                      for m, (_, near) in zip(marks, anchored)),
                    )
                )
    return examples


def article_title(article: dict, number: int) -> str:
    if article.get("title"):
        return str(article["title"])
    paragraphs = article.get("paragraphs") or [{}]
    doc = paragraphs[0].get("document_id")
    return str(doc) if doc is not None else f"article-{number}"


def anchor(context: str, text: str, start: int) -> tuple[GoldAnswer, bool]:
    """The answer trimmed and placed at its exact occurrence nearest ``start``; the flag says
    whether that occurrence is within ``NEAR`` characters of the stated offset."""
    trimmed = text.strip()
    if not trimmed:
        return GoldAnswer(text, start), False
    lead = len(text) - len(text.lstrip())
    for guess in (start + lead, start):
        if context.startswith(trimmed, guess):
            return GoldAnswer(trimmed, guess), True
    hits = []
    at = context.find(trimmed)
    while at != -1:
        hits.append(at)
        at = context.find(trimmed, at + 1)
    if not hits:
        return GoldAnswer(trimmed, start), False
    best = min(hits, key=lambda h: abs(h - start))
    return GoldAnswer(trimmed, best), abs(best - start) <= NEAR


def read_title_list(spec: str) -> list[str]:
    """'splits.json:train_titles' -> that list; 'a.txt' -> one title per line."""
    file, _, key = spec.partition(":")
    text = Path(file).read_text(encoding="utf-8")
    if file.endswith(".json"):
        return list(json.loads(text)[key or "titles"])
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class Source:
    """A training file and its own article filter (None: the run's default)."""

    file: str
    titles: list[str] | None = None


def parse_source(spec: str) -> Source:
    """``FILE`` or ``FILE@TITLES``, TITLES being a ``--titles`` spec (``splits.json:key`` or a
    text file with one title per line): ``dev-v2.0.json@splits.json:train_titles``."""
    file, sep, titles = spec.partition("@")
    if sep and not titles:
        raise ValueError(f"training source {spec!r}: nothing after '@' (give FILE@TITLES)")
    return Source(file, read_title_list(titles) if titles else None)


@dataclass(frozen=True)
class TrainingSet:
    examples: list[QAExample]
    answerable: int
    unanswerable: int
    dropped_guessed: int  # answerable questions dropped: no answer with a certain offset
    by_file: dict[str, int]


def training_examples(files: list[str | Path | Source],
                      titles: Iterable[str] | None) -> TrainingSet:
    """Merge files article by article (first file wins) and pick one certain answer each.

    A file given as ``FILE@TITLES`` (or a ``Source``) keeps its own articles; the others
    keep ``titles`` (None: every article)."""
    default = list(titles) if titles is not None else None
    seen: set[str] = set()
    chosen: list[QAExample] = []
    dropped = 0
    by_file: dict[str, int] = {}
    for spec in files:
        source = spec if isinstance(spec, Source) else parse_source(str(spec))
        file = source.file
        wanted = source.titles if source.titles is not None else default
        examples = load_squad(file, wanted)
        new_titles = {e.title for e in examples} - seen
        count = 0
        for ex in examples:
            if ex.title not in new_titles:
                continue
            if ex.answers:
                certain = [a for a, ok in zip(ex.answers, ex.certain) if ok]
                if not certain:
                    dropped += 1
                    continue
                ex = QAExample(ex.id, ex.title, ex.question, ex.context, (certain[0],), (True,))
            chosen.append(ex)
            count += 1
        seen |= new_titles
        by_file[str(file)] = count
    answerable = sum(1 for e in chosen if e.answers)
    return TrainingSet(chosen, answerable, len(chosen) - answerable, dropped, by_file)

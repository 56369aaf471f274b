"""Calibration data for the answer confidence: the bot's own candidate answers on knowledge
bases built from SQuAD-format files, each labelled right or wrong by the support rule (the
reply the bot would send contains a gold answer, case-insensitive; an answer to a question
whose article is absent is wrong).

For each source file, its articles are split in two halves (seeded); in each of two folds one
half is the knowledge base and the other is not:
- ``retrievable``: a question of an indexed paragraph (the answer can be found);
- ``removed``: a question whose paragraph was dropped from its indexed article (a quarter of
  each article's paragraphs are; retrieval finds its neighbours, the answer is not there);
- ``absent``: a question about an article that is not indexed at all.
Distractor articles (other articles of the same file) make the knowledge base larger. The bot
runs as it does for a user: its retrieval mode and top-k, FAQ-less, the shipped reader; the
label is ``qabot eval support``'s rule (``evaluation.support.contains_answer``).
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from qabot.training.squad import QAExample, load_squad

SCENARIOS = ("retrievable", "removed", "absent")
DROP = 0.25  # share of an indexed article's paragraphs left out


@dataclass(frozen=True)
class Probe:
    id: str
    group: str  # the article: cross-validation folds never split one
    question: str
    answers: tuple[str, ...]
    scenario: str


@dataclass(frozen=True)
class CalibrationExample:
    id: str
    group: str
    scenario: str
    features: tuple[float, ...]
    label: bool  # the reply would be right
    answer: str
    reader_abstained: bool  # the reader's own null threshold would have abstained


@dataclass(frozen=True)
class Fold:
    articles: dict[str, list[str]]  # title -> paragraphs indexed
    probes: list[Probe]


def paragraphs_by_article(examples: Iterable[QAExample]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for e in examples:
        if e.context not in out[e.title]:
            out[e.title].append(e.context)
    return dict(out)


def make_folds(examples: Sequence[QAExample], distractors: dict[str, list[str]], *,
               per_fold: int, seed: int) -> list[Fold]:
    """Two folds over ``examples``' articles (see the module docstring). ``per_fold`` caps the
    retrievable questions of a fold; removed and absent ones are capped at a third of it."""
    answerable = [e for e in examples if not e.is_impossible]
    articles = paragraphs_by_article(answerable)
    titles = sorted(articles)
    rng = random.Random(seed)
    rng.shuffle(titles)
    halves = (titles[: len(titles) // 2], titles[len(titles) // 2:])
    folds = []
    for number, (indexed, other) in enumerate((halves, halves[::-1])):
        frng = random.Random(seed + number)
        kept: dict[str, list[str]] = {}
        dropped: set[str] = set()
        for title in indexed:
            paras = articles[title]
            n_drop = int(len(paras) * DROP) if len(paras) > 1 else 0
            gone = set(frng.sample(range(len(paras)), n_drop))
            kept[title] = [p for i, p in enumerate(paras) if i not in gone]
            dropped |= {p for i, p in enumerate(paras) if i in gone}
        by_scenario: dict[str, list[Probe]] = {s: [] for s in SCENARIOS}
        for e in answerable:
            if e.title in kept:
                scenario = "removed" if e.context in dropped else "retrievable"
            elif e.title in other:
                scenario = "absent"
            else:
                continue
            by_scenario[scenario].append(Probe(e.id, e.title, e.question,
                                               tuple(a.text for a in e.answers), scenario))
        caps = {"retrievable": per_fold, "removed": per_fold // 3, "absent": per_fold // 3}
        probes = [p for s in SCENARIOS
                  for p in frng.sample(by_scenario[s], min(caps[s], len(by_scenario[s])))]
        folds.append(Fold({**distractors, **kept}, probes))
    return folds


def write_kb(articles: dict[str, list[str]], out_dir: Path) -> None:
    """One Markdown file per article: its title as a heading, then its paragraphs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.md"):
        old.unlink()
    for number, (title, paragraphs) in enumerate(sorted(articles.items())):
        slug = re.sub(r"[^0-9A-Za-z]+", "-", title).strip("-")[:60] or "article"
        body = "\n\n".join(paragraphs)
        (out_dir / f"{number:03d}-{slug}.md").write_text(f"# {title.replace('_', ' ')}\n\n"
                                                          f"{body}\n", encoding="utf-8")


def calibration_examples(fold: Fold, work_dir: Path, *, embedder, reader, settings,
                         progress: Callable | None = None) -> list[CalibrationExample]:
    """Index the fold's knowledge base and ask each probe as the bot would."""
    from indexer.sync import build
    from qabot.app import build_retriever
    from qabot.dialogue.answers import answer_text, source_of, tidy
    from qabot.dialogue.confidence import evidence
    from qabot.evaluation.support import contains_answer
    from qabot.intents.text import prepare

    write_kb(fold.articles, work_dir / "kb")
    build(work_dir / "kb", work_dir / "index", embedder, progress=False)
    retriever = build_retriever(replace(settings, index_dir=work_dir / "index"), embedder)
    out = []
    probes = progress(fold.probes) if progress else fold.probes
    for p in probes:
        vector = retriever.embed(prepare(p.question))
        hits = retriever.search(p.question, settings.top_k, vector=vector)
        result = reader.read(p.question, hits, top_k=3)
        if not result.answers:
            continue
        best = tidy(result.answers[0])
        reply = answer_text(best.text, source_of(hits[best.passage_index], best.start,
                                                 best.end))
        ev = evidence(p.question, hits, result.answers, result.no_answer_score, best)
        out.append(CalibrationExample(p.id, p.group, p.scenario, ev.values,
                                      p.scenario != "absent"
                                      and contains_answer(reply, p.answers),
                                      best.text, result.abstained))
    retriever.store.close()
    return out


def save_examples(examples: Sequence[CalibrationExample], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(asdict(e)) + "\n")


def load_examples(path: Path) -> list[CalibrationExample]:
    with open(path, encoding="utf-8") as f:
        return [CalibrationExample(**{**row, "features": tuple(row["features"])})
                for row in map(json.loads, f) if row]


def source_examples(file: str | Path, titles: Sequence[str] | None) -> list[QAExample]:
    return [e for e in load_squad(file, titles) if not e.is_impossible]

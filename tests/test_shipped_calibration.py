"""The shipped models measured on frozen questions they were never fitted on.

The reader was trained on SQuAD, the answer confidence calibrated on SQuAD articles, the FAQ
confidence on FAQ pairs of other help centres: none saw the example knowledge base, nor these
questions (``tests/data``: the 40 hand-written ``kb_questions.jsonl``, 10 in-domain questions
the knowledge base cannot answer, and paraphrases of the example FAQ sheet). Precision and
recall are recomputed here from the models' outputs, never read back from the figures that
training wrote: a stale or mis-calibrated model, or a threshold moved, fails these floors.
The floors sit below what the shipped models measure (in each test's comment).
"""

from __future__ import annotations

import json

import pytest

from qabot.training.squad_metrics import f1_score
from tests.conftest import ROOT

pytestmark = pytest.mark.model

DATA = ROOT / "tests" / "data"


def lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]


def words(text: str) -> list[str]:
    from qabot.reader.decode import normalize_answer

    return normalize_answer(text).split()


def holds(reply_answer: str, gold: str, *, curated: bool) -> bool:
    """A span is right when it matches the gold answer (token F1 >= 0.5) or names only words
    of it ("10" for "10 backup codes"); a curated FAQ answer when it contains the gold one."""
    if curated:
        return " ".join(words(gold)) in " ".join(words(reply_answer))
    said = words(reply_answer)
    return f1_score(reply_answer, gold) >= 0.5 or (bool(said) and set(said) <= set(words(gold)))


def test_the_faq_operating_point_on_held_out_paraphrases(example_engine):
    """28 paraphrases of FAQ questions and 12 questions the sheet does not answer (near twins
    among them): measured 23 right of 24 asserted, 23 of 28 paraphrases found."""
    engine = example_engine
    asserted = right = 0
    items = lines("faq_heldout.jsonl")
    for item in items:
        match = engine.faq.best(item["question"])
        if engine.confidences.faq.probability(match.score) >= engine.faq_confidence:
            asserted += 1
            right += match.question == item["faq"]
    paraphrases = sum(item["faq"] is not None for item in items)
    print(f"FAQ: {right} of {asserted} asserted right, of {paraphrases} paraphrases")
    assert paraphrases == 28 and len(items) == 40
    assert right / asserted >= 0.9, (right, asserted)
    assert right / paraphrases >= 0.7, (right, paraphrases)


def test_asserted_answers_on_held_out_questions_are_right(example_engine):
    """The bot as it runs (answer and FAQ tiers, default operating points) on 40 answerable
    and 10 unanswerable questions: measured 17 of 19 asserted replies right. Both wrong ones
    are FAQ answers to a nearby question (the Team plan's price for its API rate limit, the
    password length for a lock-out); the rest are related or fallback replies. Moving the
    answer operating point to 0.5 brings 18 of 23."""
    engine = example_engine
    asserted = right = 0
    for i, item in enumerate(lines("kb_questions.jsonl") + lines("kb_unanswerable.jsonl")):
        reply = engine.respond(engine.start("console", f"held-out-{i}"), item["question"])
        if reply.kind in ("answer", "faq"):
            asserted += 1
            gold = item.get("answer")
            right += gold is not None and holds(reply.answer, gold, curated=reply.kind == "faq")
    print(f"{right} of {asserted} asserted replies right")
    assert asserted >= 14, asserted
    assert right / asserted >= 0.8, (right, asserted)


def test_the_reader_on_held_out_questions_and_its_null_threshold(example_engine):
    """The shipped reader given the article section that holds the answer, next to a
    distractor section (the 32 questions on Markdown articles); then given only the
    distractor. Its null threshold is cautious: measured 13 of 32 answered, F1 0.61 on
    those, and 32 of 32 held back without the answer. A threshold moved either way fails."""
    from indexer.loaders import load_file
    from tests.conftest import EXAMPLE_KB

    reader = example_engine.reader
    distractor = next(d.text for d in load_file(EXAMPLE_KB / "keyboard-shortcuts.md",
                                                "keyboard-shortcuts.md").documents
                      if "Ctrl" in d.text)
    f1 = answered = abstained_without = n = 0
    for item in lines("kb_questions.jsonl"):
        if not item["source"].endswith(".md"):
            continue
        doc = next((d.text for d in load_file(EXAMPLE_KB / item["source"],
                                              item["source"]).documents
                    if item["answer"] in d.text), None)
        if doc is None:
            continue
        n += 1
        given = reader.read(item["question"], [distractor, doc], top_k=3)
        if not given.abstained:
            answered += 1
            f1 += f1_score(given.best.text, item["answer"])
        absent = reader.read(item["question"], [distractor], top_k=3)
        abstained_without += absent.abstained
    print(f"{n} questions: {answered} answered, F1 {f1 / max(answered, 1):.3f} on those; "
          f"{abstained_without} held back without the answer")
    assert n == 32
    assert answered >= 10 and f1 / answered >= 0.5
    assert abstained_without >= 28

"""The reader's training mixture: per-file article lists, validation articles held out whole,
same-article negatives that never hold the answer, seeded samples that continue, and the
guessed offsets of the rebuilt SQuAD train file really dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qabot.training.reader_data import (
    content_words,
    same_article_negatives,
    sample,
    split_validation,
    write_squad,
)
from qabot.training.squad import (
    GoldAnswer,
    QAExample,
    Source,
    load_squad,
    parse_source,
    training_examples,
)
from tests.conftest import shared_data

TINY = Path(__file__).parent / "data" / "tiny_squad.json"
SQUAD_TRAIN = "squad/v1.1/train-v1.1-explorer.json"


def qa(qid: str, title: str, question: str, context: str, answer: str | None) -> QAExample:
    if answer is None:
        return QAExample(qid, title, question, context)
    return QAExample(qid, title, question, context,
                     (GoldAnswer(answer, context.index(answer)),), (True,))


ARTICLE = [
    qa("1", "Berlin", "When was the wall built?", "The Berlin Wall was built in 1961.", "1961"),
    qa("2", "Berlin", "Who governs Berlin?", "Berlin is governed by a senate. Built in 1961.",
       "a senate"),
    qa("3", "Berlin", "What river flows through Berlin?",
       "The wall was built quickly, and the river Spree flows nearby.", "Spree"),
    qa("4", "Paris", "What river flows through Paris?", "The Seine flows through Paris.",
       "Seine"),
]


def test_negatives_pair_a_question_with_the_closest_paragraph_lacking_its_answer():
    negs = {n.id: n for n in same_article_negatives(ARTICLE, 1.0, seed=0)}
    # "When was the wall built?": paragraph 3 shares "wall" and "built"; paragraph 2 holds
    # "1961", the answer, so it is never a negative for that question
    assert negs["1-neg"].context == ARTICLE[2].context
    assert all(n.is_impossible and n.question for n in negs.values())
    for n in negs.values():
        original = next(e for e in ARTICLE if f"{e.id}-neg" == n.id)
        assert n.title == original.title and n.context != original.context
        assert original.answers[0].text.lower() not in n.context.lower()
    # the only paragraph of its article: no negative
    assert "4-neg" not in negs
    assert same_article_negatives(ARTICLE, 0.0, seed=0) == []


def test_negative_fraction_is_seeded():
    many = [qa(str(i), "T", f"Question {i} about topic {i % 7}?",
               f"Paragraph {i} says topic {i % 7} is {i}.", str(i)) for i in range(40)]
    a = same_article_negatives(many, 0.25, seed=3)
    assert len(a) == 10
    assert a == same_article_negatives(many, 0.25, seed=3)
    assert a != same_article_negatives(many, 0.25, seed=4)


def test_validation_articles_are_held_out_whole():
    train, val = split_validation(ARTICLE, {"Berlin", "Paris"}, 1, seed=5)
    assert {e.title for e in train}.isdisjoint({e.title for e in val})
    assert len(train) + len(val) == len(ARTICLE) and val
    assert split_validation(ARTICLE, {"Berlin"}, 0, seed=5) == (ARTICLE, [])
    with pytest.raises(ValueError, match="cannot hold out 2 of 2"):
        split_validation(ARTICLE, {"Berlin", "Paris"}, 2, seed=5)


def test_samples_are_disjoint_slices_of_one_permutation():
    items = [qa(str(i), "T", "q", f"c {i}", None) for i in range(100)]
    first = sample(items, 30, 0, seed=1)
    second = sample(items, 30, 30, seed=1)
    rest = sample(items, None, 60, seed=1)
    ids = [e.id for e in first + second + rest]
    assert len(first) == len(second) == 30 and len(rest) == 40
    assert sorted(ids, key=int) == [str(i) for i in range(100)]
    assert [e.id for e in first] == sorted((e.id for e in first), key=int)  # original order
    assert sample(items, None, 0, seed=1) is items


def test_sources_carry_their_own_articles(tmp_path):
    titles = tmp_path / "titles.txt"
    titles.write_text("Quillnote_help\n")
    assert parse_source(f"{TINY}@{titles}") == Source(str(TINY), ["Quillnote_help"])
    assert parse_source(str(TINY)) == Source(str(TINY), None)
    with pytest.raises(ValueError, match="nothing after '@'"):
        parse_source(f"{TINY}@")
    every = training_examples([TINY], None)
    none = training_examples([f"{TINY}@{titles}"], ["no such article"])
    assert len(none.examples) == len(every.examples)  # the file's own list wins
    assert training_examples([TINY], ["no such article"]).examples == []


def test_validation_file_round_trips(tmp_path):
    examples = ARTICLE + same_article_negatives(ARTICLE, 1.0, seed=0)
    path = write_squad(examples, tmp_path / "val.json")
    back = load_squad(path)
    def rows(items):
        return sorted((e.id, e.question, e.context, [a.text for a in e.answers]) for e in items)

    assert rows(back) == rows(examples)
    assert sum(e.is_impossible for e in back) == 3


def test_content_words_drop_stop_words():
    assert content_words("What is the price of Zulip Cloud?") == {"price", "zulip", "cloud"}


@pytest.mark.slow
def test_guessed_offsets_of_the_rebuilt_train_file_are_dropped():
    train = shared_data(SQUAD_TRAIN)
    provenance = json.loads(train.with_name(
        "train-v1.1-explorer.answer_start_provenance.json").read_text())
    guessed = {q for q, marks in provenance.items()
               if not any(m in ("official", "unique") for m in marks)}
    data = training_examples([train], None)
    kept = {e.id for e in data.examples}
    assert len(guessed) == 8953 and data.dropped_guessed == 8953
    assert data.answerable == 78646 and kept.isdisjoint(guessed)

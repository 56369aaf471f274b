"""Windowing: overlapping windows keep every answer reachable, offsets map back exactly."""

from __future__ import annotations

import random

import pytest

from qabot.reader.windows import (
    WindowSettings,
    answer_token_span,
    length_batches,
    make_windows,
    truncate_question,
)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from indexer.embedding import default_model_path

    return AutoTokenizer.from_pretrained(str(default_model_path()))


def long_context(n_sentences: int = 80, seed: int = 5) -> str:
    rng = random.Random(seed)
    words = ["notebook", "sync", "plan", "price", "export", "device", "offline", "team"]
    return " ".join(
        f"Fact {i}: the {rng.choice(words)} value is {rng.randint(10, 999)} units."
        for i in range(n_sentences)
    )


def test_windows_overlap_and_cover_the_passage(tokenizer):
    context = long_context()
    settings = WindowSettings(max_length=96, stride=32)
    windows = make_windows(tokenizer, "What is the price?", [context], settings)
    assert len(windows) > 5
    for w in windows:
        assert len(w.input_ids) <= 96
        assert w.input_ids[0] == tokenizer.cls_token_id
        assert w.passage_index == 0
    covered = set()
    for w in windows:
        first, last = w.context_range
        covered |= set(range(w.offsets[first][0], w.offsets[last][1]))
    assert all(i in covered for i, ch in enumerate(context) if not ch.isspace())


def test_every_answer_is_reachable_in_some_window(tokenizer):
    context = long_context()
    settings = WindowSettings(max_length=96, stride=32)
    windows = make_windows(tokenizer, "Which value?", [context], settings)
    for i in range(0, 80, 7):
        answer = f"Fact {i}: the"
        start = context.index(answer)
        spans = [(w, answer_token_span(w, start, start + len(answer))) for w in windows]
        inside = [(w, s) for w, s in spans if s]
        assert inside, f"answer {i} is in no window"
        w, (a, b) = inside[0]
        assert context[w.offsets[a][0] : w.offsets[b][1]] == answer


def test_several_passages_keep_their_index(tokenizer):
    passages = ["Short one.", long_context(30), "Another short passage about Pro."]
    windows = make_windows(tokenizer, "q?", passages, WindowSettings(max_length=64, stride=16))
    assert {w.passage_index for w in windows} == {0, 1, 2}
    indexes = [w.passage_index for w in windows]
    assert indexes == sorted(indexes)


def test_overlong_question_is_truncated(tokenizer):
    question = "why " * 200
    short = truncate_question(tokenizer, question, 64)
    assert len(tokenizer(short, add_special_tokens=False)["input_ids"]) == 64
    windows = make_windows(tokenizer, question, ["The answer is 42."], WindowSettings())
    assert len(windows) == 1 and windows[0].context_range[0] <= 66


def test_invalid_settings():
    with pytest.raises(ValueError, match="stride"):
        WindowSettings(max_length=128, stride=64)


def test_length_batches_cover_every_window_once_and_bound_padding():
    rng = random.Random(3)
    lengths = [rng.randint(20, 256) for _ in range(200)] + [256] * 40
    batches = length_batches(lengths, batch_size=16, max_padding=0.1)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 16
        real = sum(lengths[i] for i in b)
        assert max(lengths[i] for i in b) * len(b) <= 1.1 * real + 1e-9
    assert any(len(b) == 16 for b in batches)  # the 40 equal windows share full batches


def test_length_batches_split_very_unequal_windows():
    assert length_batches([250, 30, 240], batch_size=16) == [[1], [2, 0]]
    assert length_batches([100, 100, 100], batch_size=2) == [[0, 1], [2]]
    assert length_batches([], batch_size=4) == []

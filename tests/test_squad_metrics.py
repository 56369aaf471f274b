"""The SQuAD metric on hand-made cases with known values."""

from __future__ import annotations

import pytest

from qabot.training.squad_metrics import (
    best_threshold,
    exact_match,
    f1_score,
    normalize_answer,
    score_one,
    squad_scores,
)


def test_normalization():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert normalize_answer("an Apple a day") == "apple day"
    assert normalize_answer("theater") == "theater"  # 'the' only as a whole word


def test_exact_and_f1_known_values():
    assert exact_match("The cat", "cat") == 1.0
    assert f1_score("the cat sat", "cat sat on mat") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert f1_score("Denver Broncos", "Broncos") == pytest.approx(2 / 3)
    assert f1_score("blue", "red") == 0.0
    assert f1_score("", "") == 1.0 and f1_score("x", "") == 0.0


def test_max_over_gold_answers():
    assert score_one("Santa Clara", ["Levi's Stadium", "Santa Clara, California"]) == (
        0.0, pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3)))
    assert score_one("", []) == (1.0, 1.0)  # unanswerable, abstained
    assert score_one("something", []) == (0.0, 0.0)


def test_squad_scores_with_breakdown():
    golds = {"q1": ["Denver Broncos"], "q2": ["1990"], "q3": []}
    preds = {"q1": "Broncos", "q2": "1990", "q3": ""}
    out = squad_scores(preds, golds)
    assert out["exact"] == pytest.approx(200 / 3)
    assert out["f1"] == pytest.approx(100 * (2 / 3 + 1 + 1) / 3)
    assert out["HasAns_total"] == 2 and out["NoAns_total"] == 1
    assert out["HasAns_exact"] == 50.0 and out["NoAns_f1"] == 100.0
    assert squad_scores({}, golds)["exact"] == pytest.approx(100 / 3)  # only q3 right


def test_best_threshold_matches_the_official_sweep():
    golds = {"a": ["x"], "b": ["y"], "c": [], "d": []}
    preds = {"a": "x", "b": "wrong", "c": "z", "d": "w"}
    na = {"a": 0.1, "b": 0.5, "c": 0.9, "d": 0.3}
    # answer a only (na <= 0.1): a right, c and d abstain -> 3/4; answering d too loses one
    assert best_threshold(preds, na, golds) == (75.0, 0.1)
    # a confident wrong ordering: answering nothing (2 of 4) is the best it can do
    assert best_threshold(preds, {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0}, golds) == (50.0, 0.0)


def test_non_squad_files_are_clear_errors(tmp_path):
    from qabot.cli import main

    bad = tmp_path / "notes.json"
    bad.write_text("[1, 2]")
    assert main(["eval", "reader", "--data", str(bad), "--no-progress"]) == 1
    bad.write_text("not json")
    assert main(["eval", "reader", "--data", str(bad), "--no-progress"]) == 1
    assert main(["eval", "reader", "--data", str(tmp_path / "missing.json")]) == 1

"""Reader training on a tiny SQuAD-format file: the loss goes down, and resuming from a
checkpoint gives exactly the model an uninterrupted run gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qabot.training.reader_features import featurize
from qabot.training.reader_training import ReaderTrainConfig, train_reader
from qabot.training.squad import load_squad, training_examples

TINY = Path(__file__).parent / "data" / "tiny_squad.json"


def config(out: Path, **kw) -> ReaderTrainConfig:
    base = dict(train_files=[str(TINY)], out_dir=str(out), batch_size=4, learning_rate=3e-4,
                warmup_ratio=0.0, max_length=64, stride=16, epochs=3, checkpoint_every=2)
    base.update(kw)
    return ReaderTrainConfig(**base)


def test_tiny_file_loads_with_unanswerable_questions():
    data = training_examples([TINY], None)
    assert (data.answerable, data.unanswerable, data.dropped_guessed) == (8, 2, 0)
    ex = next(e for e in load_squad(TINY) if e.id == "t6")
    assert ex.context[ex.answers[0].start : ex.answers[0].end] == "14 euro per user per month"


def test_labels_point_at_the_answer_or_cls():
    from transformers import AutoTokenizer

    from indexer.embedding import default_model_path
    from qabot.reader.windows import WindowSettings
    from qabot.training.squad import GoldAnswer, QAExample

    tokenizer = AutoTokenizer.from_pretrained(str(default_model_path()))
    examples = load_squad(TINY)
    settings = WindowSettings(max_length=64, stride=16)
    features = featurize(examples, tokenizer, settings)
    decoded = {tokenizer.decode(f.input_ids[f.start : f.end + 1]) for f in features if f.start}
    assert "14 euro per user per month" in decoded and "berlin" in decoded
    impossible = [f for e, f in zip(examples, features) if e.is_impossible]
    assert impossible and all((f.start, f.end) == (0, 0) for f in impossible)

    # a long paragraph: windows without the answer point at [CLS], the one with it at the span
    context = " ".join(f"Sentence {i} is filler text." for i in range(40)) + " The code is 4711."
    long_ex = QAExample("x", "t", "What is the code?", context,
                        (GoldAnswer("4711", context.index("4711")),), (True,))
    windows = featurize([long_ex], tokenizer, settings)
    assert len(windows) > 3
    assert all((f.start, f.end) == (0, 0) for f in windows[:-1])
    last = windows[-1]
    assert tokenizer.decode(last.input_ids[last.start : last.end + 1]) == "4711"

    # long documents: every answer window stays, answerless ones are capped (seeded)
    capped = featurize([long_ex], tokenizer, settings, negatives_per_question=2, seed=1)
    assert len(capped) == 3 and capped[-1] == last
    assert all(f in windows for f in capped)
    assert capped == featurize([long_ex], tokenizer, settings, negatives_per_question=2, seed=1)
    assert featurize([long_ex], tokenizer, settings, negatives_per_question=99) == windows


def test_answers_are_trimmed_and_re_anchored_and_untitled_articles_named(tmp_path):
    context = "Masks reduce spread. The incubation period is 5 days on average."
    qas = [
        # COVID-QA style: a leading space in the text, answer_start at the first letter
        {"id": 1, "question": "q1", "answers": [{"text": " 5 days", "answer_start": 46}]},
        # answer_start 3 characters off: moved to the exact occurrence
        {"id": 2, "question": "q2", "answers": [{"text": "incubation", "answer_start": 22}]},
        # stated far from the only occurrence: kept for scoring, not trusted for training
        {"id": 3, "question": "q3", "answers": [{"text": "Masks", "answer_start": 60}]},
    ]
    data = {"data": [{"paragraphs": [{"document_id": 4711, "context": context, "qas": qas}]},
                     {"paragraphs": [{"context": "x", "qas": []}]}]}
    path = tmp_path / "covid.json"
    path.write_text(json.dumps(data))
    ex = {e.id: e for e in load_squad(path)}
    assert {e.title for e in ex.values()} == {"4711"}
    for qid, text in (("1", "5 days"), ("2", "incubation"), ("3", "Masks")):
        a = ex[qid].answers[0]
        assert a.text == text and context[a.start : a.end] == text
    assert ex["1"].certain == (True,) and ex["2"].certain == (True,)
    assert ex["3"].certain == (False,)
    assert [e.id for e in load_squad(path, ["4711"])] == ["1", "2", "3"]
    assert training_examples([path], None).dropped_guessed == 1


@pytest.mark.slow
@pytest.mark.model
def test_training_lowers_the_loss_and_resumes_exactly(tmp_path):
    import torch
    from safetensors.torch import load_file

    straight = train_reader(config(tmp_path / "a", max_steps=6), progress=False)
    losses = straight["losses"]
    assert len(losses) == 6
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2  # it learns
    model_dir = tmp_path / "a" / "model"
    assert (model_dir / "model.safetensors").is_file()
    assert json.loads((model_dir / "reader_config.json").read_text())["max_length"] == 64

    # resume from the step-4 checkpoint of the same run, killed while swapping it in (only
    # checkpoint.tmp is there): the result is bit-identical
    shutil.copytree(tmp_path / "a" / "checkpoint", tmp_path / "b" / "checkpoint.tmp")
    resumed = train_reader(config(tmp_path / "b", max_steps=6), resume=True, progress=False)
    assert resumed["resumed_at"] == 4 and resumed["steps"] == 6
    a = load_file(model_dir / "model.safetensors")
    b = load_file(tmp_path / "b" / "model" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
@pytest.mark.model
def test_validation_articles_choose_the_threshold_the_model_then_uses(tmp_path):
    from qabot.reader.model import Reader
    from qabot.training.reader_eval import evaluate_reader

    data = json.loads(TINY.read_text())
    second = json.loads(json.dumps(data["data"][0]))
    second["title"] = "Quillnote_billing"
    for p in second["paragraphs"]:
        for q in p["qas"]:
            q["id"] += "-b"
    data["data"].append(second)
    two = tmp_path / "two_articles.json"
    two.write_text(json.dumps(data))

    summary = train_reader(config(tmp_path / "run", train_files=[str(two)], max_steps=2,
                                  val_articles=1, same_article_negatives=1.0), progress=False)
    model_dir = tmp_path / "run" / "model"
    val_file = tmp_path / "run" / "validation.json"
    held = {e.title for e in load_squad(val_file)}
    assert len(held) == 1 and summary["validation_questions"] == len(load_squad(val_file))
    assert summary["examples"] == 10 + summary["same_article_negatives"]  # one article trained
    assert any(e.is_impossible and e.id.endswith("-neg") for e in load_squad(val_file))

    stored = json.loads((model_dir / "reader_config.json").read_text())["null_threshold"]
    reader = Reader(model_dir)
    assert reader.settings.null_threshold == stored == \
        round(summary["validation"]["best_f1_thresh"], 4)
    again = evaluate_reader(reader, val_file)
    assert again["best_f1_thresh"] == pytest.approx(stored, abs=1e-4)


def test_a_kill_while_a_checkpoint_is_swapped_in_loses_no_checkpoint(tmp_path):
    from qabot.errors import QabotError
    from qabot.training.reader_training import recover_checkpoint

    def checkpoint(name: str, step: int, complete: bool = True) -> None:
        (tmp_path / name).mkdir()
        if complete:  # the trainer state is the last file written
            (tmp_path / name / "trainer_state.pt").write_text(str(step))

    with pytest.raises(QabotError, match="no checkpoint"):
        recover_checkpoint(tmp_path)  # --resume with nothing to resume: said, not restarted
    checkpoint("checkpoint.old", 200)
    checkpoint("checkpoint.tmp", 400)  # killed between the two renames
    found = recover_checkpoint(tmp_path)
    assert (found / "trainer_state.pt").read_text() == "400"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    shutil.rmtree(found)
    checkpoint("checkpoint.old", 200)
    checkpoint("checkpoint.tmp", 400, complete=False)  # killed while writing the new one
    assert (recover_checkpoint(tmp_path) / "trainer_state.pt").read_text() == "200"

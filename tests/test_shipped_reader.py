"""The shipped reader (qabot/models/reader) on the example knowledge base: it answers easy
questions from the right passage, next to a distractor, and abstains when the answer is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.loaders import load_file

ROOT = Path(__file__).resolve().parent.parent
KB = ROOT / "examples" / "kb"
QUESTIONS = {json.loads(line)["answer"]: json.loads(line)
             for line in (ROOT / "tests/data/kb_questions.jsonl").open()}

EASY = [  # gold answer span in kb_questions.jsonl -> what the reader's answer must contain
    ("14 days", "14 days"),
    ("Markdown & CSV", "Markdown & CSV"),
    ("Dr. Miriam Hartmann", "Miriam Hartmann"),
    ("valid for 365 days", "365 days"),
    ("processed within 5–10 business days", "5–10 business days"),
]


def section(source: str, phrase: str) -> str:
    return next(d.text for d in load_file(KB / source, source).documents if phrase in d.text)


@pytest.fixture(scope="module", params=["default", "fp32", "bf16", "int8"])
def reader(request):
    from qabot.reader.model import Reader

    reader = Reader(precision=None if request.param == "default" else request.param)
    reader.warm_up()
    expected = ("fp32", "bf16") if request.param == "default" else (request.param,)
    assert reader.precision in expected
    return reader


@pytest.mark.model
@pytest.mark.parametrize(("gold", "expected"), EASY)
def test_answers_easy_questions(reader, gold, expected):
    q = QUESTIONS[gold]
    distractor = section("keyboard-shortcuts.md", "Ctrl")
    result = reader.read(q["question"], [distractor, section(q["source"], gold)], top_k=3)
    assert not result.abstained, result
    assert expected in result.best.text
    assert result.best.passage_index == 1


@pytest.mark.model
def test_abstains_when_the_answer_is_absent(reader):
    result = reader.read("Who is the CEO of Quillnote's biggest competitor?",
                         [section("keyboard-shortcuts.md", "Ctrl")])
    assert result.abstained and result.best is None


def test_shipped_artifact_is_fp16_safetensors_with_its_config():
    model_dir = ROOT / "qabot" / "models" / "reader"
    config = json.loads((model_dir / "reader_config.json").read_text())
    assert config["weights_dtype"] == "float16" and config["max_length"] == 256
    assert (model_dir / "tokenizer.json").is_file()
    size = (model_dir / "model.safetensors").stat().st_size
    assert 30e6 < size < 60e6  # 22.7M parameters in fp16

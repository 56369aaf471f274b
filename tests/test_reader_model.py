"""Reader logic around the model: merging, fusion, abstention (hand-made windows and logits),
and the shipped model on the example knowledge base."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from qabot.errors import InvalidSettingError, ModelNotFoundError
from qabot.reader.model import Reader, ReaderSettings, resolve_precision
from qabot.reader.windows import Window

P0 = "Quillnote is based in Berlin."
P1 = "The company moved to Berlin in 2019."


@dataclass
class Hit:  # what a retriever hands over (duck-typed like indexer.store.SearchHit)
    text: str
    score: float
    passage_id: int
    source: str


def window(passage_index: int, text: str) -> Window:
    """[CLS] q [SEP] then one token per word of ``text`` with its character offsets."""
    offsets: list = [None, None, None]
    pos = 0
    for word in text.split(" "):
        offsets.append((pos, pos + len(word.rstrip("."))))
        pos += len(word) + 1
    offsets.append(None)
    n = len(offsets)
    return Window(passage_index, tuple(range(n)), tuple([0] * 3 + [1] * (n - 3)), tuple(offsets))


def peaks(n: int, **values: float) -> np.ndarray:
    out = np.full(n, -5.0, dtype=np.float32)
    for key, value in values.items():
        out[int(key[1:])] = value
    return out


def decode(reader: Reader, passages, null=(0.0, 0.0), berlin=(4.0, 4.0), other=(3.0, 3.0)):
    w0, w1 = window(0, P0), window(1, P1)
    # P0 tokens: 3 Quillnote 4 is 5 based 6 in 7 Berlin ; P1: 3 The 4 company 5 moved 6 to 7 Berlin
    s0 = peaks(len(w0.offsets), t0=null[0], t7=berlin[0])
    e0 = peaks(len(w0.offsets), t0=null[1], t7=berlin[1])
    s1 = peaks(len(w1.offsets), t0=null[0], t7=other[0], t9=other[0] - 1)
    e1 = peaks(len(w1.offsets), t0=null[1], t7=other[1], t9=other[1])
    return reader.decode("Where is Quillnote based?", passages, [w0, w1], [s0, s1], [e0, e1])


def test_identical_answers_from_two_passages_are_merged():
    result = decode(Reader(settings=ReaderSettings()), [P0, P1])
    texts = [a.text for a in result.answers]
    assert texts.count("Berlin") == 1
    best = result.best
    assert best.text == "Berlin" and best.passage_index == 0 and best.also_in == (1,)
    assert best.score == pytest.approx(8.0)
    assert P0[best.start : best.end] == "Berlin"


def test_retriever_score_fusion_can_reorder_answers():
    hits = [Hit(P0, 0.1, 10, "a.md"), Hit(P1, 0.9, 11, "b.md")]
    plain = decode(Reader(settings=ReaderSettings()), hits, berlin=(4, 4), other=(5, 5))
    assert plain.best.passage_index == 1  # "Berlin" found with a higher span score in P1
    result = decode(Reader(settings=ReaderSettings(retriever_weight=0.0)), hits,
                    berlin=(5.0, 5.0), other=(4.0, 4.0))
    assert result.best.source == "a.md" and result.best.passage_id == 10
    fused = decode(Reader(settings=ReaderSettings(retriever_weight=10.0)), hits,
                   berlin=(5.0, 5.0), other=(4.0, 4.0))
    assert fused.best.text == "Berlin"  # merged: both passages agree
    assert fused.best.fused_score == pytest.approx(8.0 + 10.0 * 0.9)
    assert fused.best.retriever_score == 0.9 and fused.best.source == "b.md"


def test_abstains_when_the_null_score_wins_by_the_threshold():
    reader = Reader(settings=ReaderSettings(null_threshold=1.0))
    sure = decode(reader, [P0, P1], null=(5.0, 5.0))  # null 10 vs best 8: margin 2 > 1
    assert sure.abstained and sure.best is None and sure.answers  # candidates kept for logs
    assert sure.null_margin == pytest.approx(2.0)
    unsure = decode(reader, [P0, P1], null=(4.25, 4.25))  # margin 0.5 <= 1: answer
    assert not unsure.abstained and unsure.best.text == "Berlin"


def test_empty_input_abstains_without_loading_a_model(tmp_path):
    reader = Reader(tmp_path / "missing")
    assert reader.read("", ["text"]).abstained
    assert reader.read("question?", []).abstained
    with pytest.raises(ModelNotFoundError, match="no reader model at"):
        reader.read("question?", ["text"])


def test_precision_comes_from_the_model_config_and_can_be_overridden(tmp_path):
    (tmp_path / "reader_config.json").write_text('{"precision": "int8", "stride": 64}')
    assert Reader(tmp_path).settings.precision == "int8"
    assert Reader(tmp_path, precision="fp32").settings.precision == "fp32"
    assert Reader(tmp_path, precision="fp32").settings.stride == 64
    assert resolve_precision("auto") in ("fp32", "bf16")
    assert resolve_precision("int8") == "int8"
    with pytest.raises(InvalidSettingError, match="unknown reader precision 'fp8'"):
        Reader(tmp_path, precision="fp8")


def test_max_answer_length_comes_from_the_model_config_and_can_be_overridden(tmp_path):
    (tmp_path / "reader_config.json").write_text('{"max_answer_tokens": 48}')
    assert Reader(tmp_path).settings.max_answer_tokens == 48
    assert Reader(tmp_path, max_answer_tokens=12).settings.max_answer_tokens == 12
    with pytest.raises(InvalidSettingError, match="at least 1; got 0"):
        Reader(tmp_path, max_answer_tokens=0)

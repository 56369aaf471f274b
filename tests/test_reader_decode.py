"""Span decoding on hand-made logits."""

from __future__ import annotations

import numpy as np

from qabot.reader.decode import best_spans, null_score

# token:   0=[CLS] 1=who 2=? 3=[SEP] 4=Ada 5=Love 6=##lace 7=wrote 8=it 9=. 10=[SEP]
OFFSETS = [None, None, None, None, (0, 3), (4, 8), (8, 13), (14, 19), (20, 22), (22, 23), None]


def logits(**peaks):
    out = np.zeros(len(OFFSETS), dtype=np.float32)
    for index, value in peaks.items():
        out[int(index[1:])] = value
    return out


def test_best_span_and_character_offsets():
    spans = best_spans(logits(t4=5.0, t7=1.0), logits(t6=4.0, t8=1.0), OFFSETS)
    best = spans[0]
    assert (best.start_token, best.end_token, best.score) == (4, 6, 9.0)
    assert (best.start_char, best.end_char) == (0, 13)  # "Ada Lovelace"
    assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)


def test_end_before_start_is_never_returned():
    spans = best_spans(logits(t8=9.0), logits(t4=9.0), OFFSETS)
    assert spans and all(s.end_token >= s.start_token for s in spans)
    assert (spans[0].start_token, spans[0].end_token) != (8, 4)


def test_maximum_answer_length_in_tokens():
    spans = best_spans(logits(t4=9.0), logits(t9=9.0), OFFSETS, max_answer_tokens=3)
    assert all(s.end_token - s.start_token + 1 <= 3 for s in spans)
    assert (spans[0].start_token, spans[0].end_token) != (4, 9)
    assert (4, 9) in {(s.start_token, s.end_token)
                      for s in best_spans(logits(t4=9.0), logits(t9=9.0), OFFSETS)}


def test_spans_in_the_question_or_specials_are_excluded():
    spans = best_spans(logits(t0=20.0, t1=15.0, t2=15.0), logits(t0=20.0, t2=15.0, t3=9.0),
                       OFFSETS)
    assert all(OFFSETS[s.start_token] and OFFSETS[s.end_token] for s in spans)
    assert all(s.start_token >= 4 and s.end_token <= 9 for s in spans)


def test_null_score_and_no_context():
    start, end = logits(t0=3.0, t4=1.0), logits(t0=2.5, t5=1.0)
    assert null_score(start, end) == 5.5
    best = best_spans(start, end, OFFSETS)[0]
    assert best.score == 2.0 and null_score(start, end) - best.score == 3.5
    assert best_spans(start, end, [None] * len(OFFSETS)) == []


def test_n_best_limits_the_number_of_spans():
    rng = np.random.default_rng(0)
    spans = best_spans(rng.normal(size=11), rng.normal(size=11), OFFSETS, n_best=3)
    assert len(spans) <= 3

"""Training features for the span head: windows with start/end labels ([CLS] when a window
holds no answer), and their padded batches."""

from __future__ import annotations

import random
from dataclasses import dataclass

from qabot.reader.windows import Window, WindowSettings, answer_token_span, make_windows, pad_batch
from qabot.training.squad import QAExample


@dataclass(frozen=True)
class Feature:
    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...]
    start: int  # 0 (the [CLS] token) when the window holds no answer
    end: int


def featurize(
    examples: list[QAExample],
    tokenizer,
    settings: WindowSettings,
    *,
    negatives_per_question: int | None = None,
    seed: int = 13,
) -> list[Feature]:
    """Windows with start/end labels; windows without the answer point at [CLS].

    With ``negatives_per_question``, each question keeps every window holding its answer and
    at most that many windows without it, drawn at random (seeded).
    """
    rng = random.Random(seed)
    features = []
    for ex in examples:
        windows = []
        for w in make_windows(tokenizer, ex.question, [ex.context], settings):
            span = _label(w, ex)
            windows.append(Feature(w.input_ids, w.token_type_ids, *(span or (0, 0))))
        negatives = [i for i, f in enumerate(windows) if f.start == 0 and f.end == 0]
        if negatives_per_question is not None and len(negatives) > negatives_per_question:
            dropped = set(negatives) - set(rng.sample(negatives, negatives_per_question))
            windows = [f for i, f in enumerate(windows) if i not in dropped]
        features += windows  # in window order
    return features


def _label(window: Window, ex: QAExample) -> tuple[int, int] | None:
    if ex.is_impossible:
        return None
    answer = ex.answers[0]
    return answer_token_span(window, answer.start, answer.end)


def collate(features: list[Feature], idx: list[int], pad_id: int):
    import torch

    batch = pad_batch([features[i] for i in idx], pad_id)
    batch["start_positions"] = torch.tensor([features[i].start for i in idx])
    batch["end_positions"] = torch.tensor([features[i].end for i in idx])
    return batch

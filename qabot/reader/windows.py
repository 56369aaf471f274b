"""Featurize (question, passages) into overlapping token windows for a span-prediction model.

Shared by training and inference so both see exactly the same inputs: ``[CLS] question [SEP]
passage-slice [SEP]``, the passage split into windows of at most ``max_length`` tokens that
overlap by ``stride`` tokens, each context token carrying its character offsets in the passage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_QUESTION_TOKENS = 64


@dataclass(frozen=True)
class WindowSettings:
    max_length: int = 256
    stride: int = 96  # tokens shared by consecutive windows of one passage
    max_question_tokens: int = MAX_QUESTION_TOKENS

    def __post_init__(self) -> None:
        if not 64 <= self.max_length <= 512:
            raise ValueError(f"max_length must be between 64 and 512; got {self.max_length}")
        if not 0 <= self.stride < self.max_length // 2:
            raise ValueError(f"stride must be in [0, max_length/2); got {self.stride}")


@dataclass(frozen=True)
class Window:
    """One model input. ``offsets[i]`` is the (start, end) character span in the passage of
    token i, or None for question/special/padding tokens."""

    passage_index: int
    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...]
    offsets: tuple[tuple[int, int] | None, ...]

    @property
    def context_range(self) -> tuple[int, int]:
        """(first, last) token index of the context in this window."""
        idx = [i for i, o in enumerate(self.offsets) if o is not None]
        return idx[0], idx[-1]


def truncate_question(tokenizer, question: str, max_tokens: int) -> str:
    """Cut an over-long question to its first ``max_tokens`` tokens (keeps the text valid)."""
    enc = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    if len(enc["input_ids"]) <= max_tokens:
        return question
    return question[: enc["offset_mapping"][max_tokens - 1][1]]


def make_windows(
    tokenizer, question: str, passages: Sequence[str], settings: WindowSettings
) -> list[Window]:
    """All windows of all passages for one question, in passage order."""
    if not passages:
        return []
    question = truncate_question(tokenizer, question.strip(), settings.max_question_tokens)
    enc = tokenizer(
        [question] * len(passages),
        list(passages),
        truncation="only_second",
        max_length=settings.max_length,
        stride=settings.stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    windows = []
    for i, input_ids in enumerate(enc["input_ids"]):
        seq_ids = enc.sequence_ids(i)
        offsets = tuple(
            tuple(off) if sid == 1 else None
            for off, sid in zip(enc["offset_mapping"][i], seq_ids)
        )
        windows.append(
            Window(
                passage_index=int(enc["overflow_to_sample_mapping"][i]),
                input_ids=tuple(input_ids),
                token_type_ids=tuple(enc["token_type_ids"][i]),
                offsets=offsets,
            )
        )
    return windows


def answer_token_span(window: Window, start_char: int, end_char: int) -> tuple[int, int] | None:
    """Token (start, end) of the answer [start_char, end_char) if wholly inside the window."""
    first, last = window.context_range
    if window.offsets[first][0] > start_char or window.offsets[last][1] < end_char:
        return None
    start = first
    while start <= last and window.offsets[start][1] <= start_char:
        start += 1
    end = last
    while end >= first and window.offsets[end][0] >= end_char:
        end -= 1
    if start > end:
        return None
    return start, end


def pad_batch(items: Sequence, pad_id: int) -> dict:
    """Right-padded ``input_ids``/``token_type_ids``/``attention_mask`` tensors for objects
    with ``input_ids`` and ``token_type_ids`` (windows or training features)."""
    import torch

    width = max(len(item.input_ids) for item in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(items), width), dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, item in enumerate(items):
        n = len(item.input_ids)
        ids[row, :n] = torch.tensor(item.input_ids)
        types[row, :n] = torch.tensor(item.token_type_ids)
        mask[row, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def length_batches(lengths: Sequence[int], batch_size: int, max_padding: float = 0.1
                   ) -> list[list[int]]:
    """Indices grouped into batches of similar lengths, shortest first.

    A batch holds at most ``batch_size`` items and is closed before padding would exceed
    ``max_padding`` of its real tokens: on a CPU, padded positions cost as much as real ones,
    so one batch of very unequal windows is slower than several small ones.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        n = lengths[i]  # the longest so far: the batch would be padded to n
        if current and (len(current) >= batch_size
                        or n * (len(current) + 1) > (1 + max_padding) * (real + n)):
            batches.append(current)
            current, real = [], 0
        current.append(i)
        real += n
    if current:
        batches.append(current)
    return batches

"""Reader: question + retrieved passages -> ranked answer spans, or an honest "no answer".

All windows of all passages are scored in batched forward passes; spans are decoded from raw
logits (``decode.best_spans``), so scores compare across passages. The question's no-answer
score is the lowest [CLS] score over its windows; the reader abstains when it beats the best
span by more than ``null_threshold``. A retriever score, when the passages carry one, can be
fused linearly with the span score (``retriever_weight``, as BERTserini does).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from qabot.errors import InvalidSettingError, ModelNotFoundError
from qabot.reader.decode import best_spans, normalize_answer, null_score
from qabot.reader.windows import (
    Window,
    WindowSettings,
    length_batches,
    make_windows,
    pad_batch,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "reader"


@dataclass(frozen=True)
class ReaderSettings:
    max_length: int = 256
    stride: int = 96
    n_best: int = 20
    max_answer_tokens: int = 30
    batch_size: int = 16
    null_threshold: float = 0.0  # abstain when no_answer_score - best span score > this
    retriever_weight: float = 0.0  # fused = span score + weight * retriever score
    # "fp32", "bf16", "int8" (dynamic quantization, per-channel weights), or "auto": bf16
    # where torch's oneDNN backend supports it on this CPU (AVX-512 and newer), else fp32
    precision: str = "fp32"


PRECISIONS = ("auto", "fp32", "bf16", "int8")


@dataclass(frozen=True)
class ReaderAnswer:
    text: str
    score: float  # span score: start logit + end logit
    fused_score: float  # score + retriever_weight * retriever_score: the ranking key
    passage_index: int  # position in the passages given to ``read``
    start: int  # character offsets into that passage's text
    end: int
    retriever_score: float | None = None
    passage_id: int | None = None
    source: str | None = None
    also_in: tuple[int, ...] = ()  # other passages where the same answer was found


@dataclass(frozen=True)
class ReaderResult:
    question: str
    answers: list[ReaderAnswer] = field(default_factory=list)  # best first, never empty text
    no_answer_score: float = float("-inf")
    abstained: bool = True  # no answer: nothing found, or the null score won

    @property
    def best(self) -> ReaderAnswer | None:
        return None if self.abstained or not self.answers else self.answers[0]

    @property
    def null_margin(self) -> float:
        """no-answer score minus best span score (higher = surer there is no answer)."""
        return self.no_answer_score - self.answers[0].score if self.answers else float("inf")


def _text(passage: Any) -> str:
    return passage if isinstance(passage, str) else passage.text


class Reader:
    """A fine-tuned span-prediction model. The constructor does no I/O; the model loads on the
    first ``read`` or on ``warm_up()``."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        settings: ReaderSettings | None = None,
        *,
        precision: str | None = None,
        max_answer_tokens: int | None = None,
        threads: int | None = None,
    ):
        """``precision`` overrides the settings' (from ``reader_config.json``): "fp32", "bf16",
        "int8" (torch dynamic quantization of every Linear layer, per-channel weight scales) or
        "auto" (bf16 where oneDNN supports it on this CPU, else fp32). ``max_answer_tokens``
        overrides the longest span the reader gives."""
        self.model_dir = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        self.settings = settings or self._settings_from_config()
        if precision is not None:
            self.settings = replace(self.settings, precision=precision)
        if max_answer_tokens is not None:
            if max_answer_tokens < 1:
                raise InvalidSettingError(
                    f"max_answer_tokens must be at least 1; got {max_answer_tokens}")
            self.settings = replace(self.settings, max_answer_tokens=max_answer_tokens)
        if self.settings.precision not in PRECISIONS:
            raise InvalidSettingError(
                f"unknown reader precision {self.settings.precision!r}; "
                f"choose one of {', '.join(PRECISIONS)}"
            )
        self.threads = threads
        self.precision: str | None = None  # the precision in use, once the model is loaded
        self._model = None
        self._tokenizer = None

    def _settings_from_config(self) -> ReaderSettings:
        config = self.model_dir / "reader_config.json"
        if not config.is_file():
            return ReaderSettings()
        data = json.loads(config.read_text())
        known = set(ReaderSettings.__dataclass_fields__)
        return ReaderSettings(**{k: v for k, v in data.items() if k in known})

    # ------------------------------------------------------------------ loading

    def warm_up(self) -> None:
        self._load()

    def _load(self):
        if self._model is not None:
            return self._model, self._tokenizer
        if not (self.model_dir / "config.json").is_file():
            raise ModelNotFoundError(
                f"no reader model at {self.model_dir}; train one with 'qabot train reader'"
            )
        import torch
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        if self.threads:
            torch.set_num_threads(self.threads)
        model = AutoModelForQuestionAnswering.from_pretrained(
            str(self.model_dir), dtype=torch.float32
        )
        model.eval()
        self.precision = resolve_precision(self.settings.precision)
        model = _with_precision(model, self.precision)
        self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
        self._model = model
        return self._model, self._tokenizer

    # ------------------------------------------------------------------ inference

    def windows(self, question: str, passages: Sequence[Any]) -> list[Window]:
        _, tokenizer = self._load()
        s = self.settings
        return make_windows(tokenizer, question, [_text(p) for p in passages],
                            WindowSettings(max_length=s.max_length, stride=s.stride))

    def logits(self, windows: Sequence[Window]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Start and end logits per window (unpadded), in batched forward passes."""
        import torch

        model, tokenizer = self._load()
        out_s: dict[int, np.ndarray] = {}
        out_e: dict[int, np.ndarray] = {}
        lengths = [len(w.input_ids) for w in windows]
        for idx in length_batches(lengths, self.settings.batch_size):
            batch = pad_batch([windows[i] for i in idx], tokenizer.pad_token_id)
            if bool(batch["attention_mask"].all()):
                del batch["attention_mask"]  # no padding: lets attention skip the mask
            with torch.inference_mode():
                out = model(**batch)
            s_logits = out.start_logits.float().numpy()
            e_logits = out.end_logits.float().numpy()
            for row, i in enumerate(idx):
                n = len(windows[i].input_ids)
                out_s[i], out_e[i] = s_logits[row, :n], e_logits[row, :n]
        return [out_s[i] for i in range(len(windows))], [out_e[i] for i in range(len(windows))]

    def read(self, question: str, passages: Sequence[Any], top_k: int = 3) -> ReaderResult:
        """Ranked answers to ``question`` from ``passages`` (strings, or objects with ``.text``
        and optionally ``.score``, ``.passage_id``, ``.source`` such as a SearchHit)."""
        if not question.strip() or not passages:
            return ReaderResult(question)
        windows = self.windows(question, passages)
        starts, ends = self.logits(windows)
        return self.decode(question, passages, windows, starts, ends, top_k)

    def decode(
        self,
        question: str,
        passages: Sequence[Any],
        windows: Sequence[Window],
        starts: Sequence[np.ndarray],
        ends: Sequence[np.ndarray],
        top_k: int = 3,
    ) -> ReaderResult:
        """Windows' logits -> merged, fused, ranked answers (pure given the logits)."""
        s = self.settings
        null = min((null_score(a, b) for a, b in zip(starts, ends)), default=float("-inf"))
        merged: dict[str, ReaderAnswer] = {}
        for window, start_logits, end_logits in zip(windows, starts, ends):
            passage = passages[window.passage_index]
            text = _text(passage)
            retriever = getattr(passage, "score", None)
            for span in best_spans(start_logits, end_logits, window.offsets,
                                   n_best=s.n_best, max_answer_tokens=s.max_answer_tokens):
                answer_text = text[span.start_char : span.end_char].strip()
                key = normalize_answer(answer_text)
                if not key:
                    continue
                fused = span.score + s.retriever_weight * (retriever or 0.0)
                current = merged.get(key)
                if current is not None:
                    others = set(current.also_in) | {current.passage_index, window.passage_index}
                    if fused <= current.fused_score:
                        others.discard(current.passage_index)
                        merged[key] = _with_also(current, others)
                        continue
                    others.discard(window.passage_index)
                else:
                    others = set()
                merged[key] = ReaderAnswer(
                    text=answer_text,
                    score=span.score,
                    fused_score=fused,
                    passage_index=window.passage_index,
                    start=span.start_char,
                    end=span.end_char,
                    retriever_score=retriever,
                    passage_id=getattr(passage, "passage_id", None),
                    source=getattr(passage, "source", None),
                    also_in=tuple(sorted(others)),
                )
        ranked = sorted(merged.values(), key=lambda a: -a.fused_score)[:top_k]
        abstained = not ranked or null - ranked[0].score > s.null_threshold
        return ReaderResult(question, ranked, null, abstained)


def resolve_precision(precision: str) -> str:
    """"auto" -> "bf16" where torch's oneDNN backend supports bf16 on this CPU, else "fp32"."""
    if precision != "auto":
        return precision
    try:
        import torch

        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        native = False
    return "bf16" if native else "fp32"


def _with_precision(model, precision: str):
    import torch

    if precision == "bf16":
        return model.to(torch.bfloat16)
    if precision == "int8":
        # Per-channel weight scales keep F1 within 0.1 of fp32 on SQuAD; per-tensor scales
        # (torch's default dynamic qconfig) lost 4.8 F1 (BENCHMARKS.md, section 4).
        from torch.ao import quantization as tq

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's deprecation notice in favour of torchao
            return tq.quantize_dynamic(
                model, {torch.nn.Linear: tq.per_channel_dynamic_qconfig}, dtype=torch.qint8
            )
    return model


def _with_also(answer: ReaderAnswer, others: set[int]) -> ReaderAnswer:
    return replace(answer, also_in=tuple(sorted(others)))

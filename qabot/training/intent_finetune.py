"""Intent fine-tuning: the whole encoder with a sequence-classification head, LP-FT head
initialisation (a linear probe on the frozen features), length-bucketed batches, early stopping
on validation accuracy."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from qabot.training.batching import shuffled_length_batches
from qabot.training.intent_data import Labelled
from qabot.training.intent_training import IntentTrainConfig, _linear_head


def fit_finetune(cfg: IntentTrainConfig, train: Labelled, val: Labelled, labels: list[str],
                  out: Path, progress: bool) -> dict:
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )
    from transformers.utils import logging as hf_logging

    from qabot.training.reader_training import base_model_path

    hf_logging.set_verbosity_error()
    torch.manual_seed(cfg.seed)
    base = base_model_path(None)
    index = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=index,
        dtype=torch.float32)
    encode = lambda texts: tokenizer(texts, truncation=True, max_length=cfg.max_length)["input_ids"]  # noqa: E731
    train_ids, val_ids = encode(train.texts), encode(val.texts)
    targets = [index[label] for label in train.labels]
    if cfg.init_head:
        _init_head(model, tokenizer, train_ids, train.labels, labels, cfg.seed)
    steps_per_epoch = -(-len(train_ids) // cfg.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(cfg.warmup_ratio * steps_per_epoch * cfg.epochs),
        steps_per_epoch * cfg.epochs)
    history, best, waited = [], None, 0
    t = time.perf_counter()
    for epoch in range(cfg.epochs):
        losses = _train_epoch(model, optimizer, scheduler, tokenizer, train_ids, targets,
                              cfg, epoch, progress)
        probs = _probabilities(model, tokenizer, val_ids)
        accuracy = float(np.mean(np.asarray(labels)[probs.argmax(1)] == np.asarray(val.labels)))
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4),
                        "val_accuracy": round(accuracy, 5)})
        if best is None or accuracy > best[0]:
            best = (accuracy, epoch + 1, {k: v.clone() for k, v in model.state_dict().items()},
                    probs)
            waited = 0
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    _, best_epoch, state, probs = best
    model.load_state_dict(state)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"best_epoch": best_epoch, "epochs_run": len(history), "history": history,
            "fit_seconds": round(time.perf_counter() - t, 1), "val_probs": probs}


def _init_head(model, tokenizer, train_ids, train_labels, labels, seed: int) -> None:
    """LP-FT: the classification head starts as a linear probe on the frozen features."""
    import torch

    pooled = _pooled_features(model, tokenizer, train_ids)
    head = _linear_head("logreg", 1.0, pooled, train_labels, labels, seed)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.tensor(head["weight"], dtype=torch.float32))
        model.classifier.bias.copy_(torch.tensor(head["bias"], dtype=torch.float32))


def _train_epoch(model, optimizer, scheduler, tokenizer, train_ids, targets,
                 cfg: IntentTrainConfig, epoch: int, progress: bool) -> list[float]:
    """One epoch in seeded length-bucketed batches; the losses."""
    import torch
    from tqdm.auto import tqdm

    model.train()
    batches = shuffled_length_batches([len(ids) for ids in train_ids], cfg.batch_size,
                                      cfg.seed, epoch)
    bar = tqdm(batches, desc=f"epoch {epoch + 1}", unit="batch", disable=not progress)
    losses = []
    for idx in bar:
        batch = _pad(tokenizer, [train_ids[i] for i in idx])
        loss = model(**batch, labels=torch.tensor([targets[i] for i in idx])).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    return losses


def _pooled_features(model, tokenizer, ids: list[list[int]], batch_size: int = 128) -> np.ndarray:
    """The frozen model's pooled [CLS] vectors: what its classification head reads."""
    import torch

    model.eval()
    base = getattr(model, model.base_model_prefix)
    rows = []
    with torch.inference_mode():
        for b in range(0, len(ids), batch_size):
            rows.append(base(**_pad(tokenizer, ids[b : b + batch_size])).pooler_output.numpy())
    return np.concatenate(rows)


def _pad(tokenizer, ids: list[list[int]]):
    return tokenizer.pad({"input_ids": ids}, return_tensors="pt")


def _probabilities(model, tokenizer, ids: list[list[int]], batch_size: int = 128) -> np.ndarray:
    import torch

    from qabot.intents.routing import softmax

    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    rows = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            logits = model(**_pad(tokenizer, [ids[i] for i in idx])).logits.float().numpy()
            rows[idx] = softmax(logits)
    return rows

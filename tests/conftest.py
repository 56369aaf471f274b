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
SHARED_DATA = ROOT.parent / "shared" / "data"  # the public datasets, beside the clone (CI too)


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


@pytest.fixture(scope="session", autouse=True)
def _one_loaded_encoder_per_model():
    """In the test process, every ``SentenceTransformerEmbedder`` of one model folder shares
    one loaded model: loading takes seconds, and qabot only ever runs it for inference (no
    code path trains or changes an embedder's model). Processes a test starts load their own."""
    from indexer.embedding import SentenceTransformerEmbedder

    loaded: dict[tuple[str, str | None], object] = {}
    real = SentenceTransformerEmbedder._load

    def load(self):
        if self._model is None:
            key = (str(self.model_path), self.device)
            if key not in loaded:
                loaded[key] = real(self)
            self._model = loaded[key]
        return self._model

    SentenceTransformerEmbedder._load = load
    yield
    SentenceTransformerEmbedder._load = real


@pytest.fixture(scope="session")
def minilm():
    """The default embedder, the shipped retriever (all-MiniLM-L6-v2 fine-tuned as a question
    -> passage retriever; loaded once)."""
    from indexer.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="session")
def example_build(tmp_path_factory, minilm) -> tuple[Path, dict]:
    """The example knowledge base indexed once, as ``qabot-index build EXAMPLE_KB --index I
    --json`` does (its ``main``, in this process: the encoder is the session's), with the
    report it printed. The index is read-only, for every test that only reads it: one that
    changes an index takes ``example_index_copy``."""
    import contextlib
    import io
    import json

    from indexer import cli

    index, out = tmp_path_factory.mktemp("example") / "index", io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["build", str(EXAMPLE_KB), "--index", str(index), "--json",
                         "--no-progress"])
    assert code == 0, out.getvalue()
    _read_only(index)
    return index, json.loads(out.getvalue())


@pytest.fixture(scope="session")
def example_index(example_build) -> Path:
    """The example knowledge base indexed with the real retriever (read-only, shared)."""
    return example_build[0]


@pytest.fixture
def example_index_copy(example_index, tmp_path) -> Path:
    """A writable copy of ``example_index`` (the manifest names the example KB, as built)."""
    return writable_copy(example_index, tmp_path / "index")


def writable_copy(source: Path, target: Path) -> Path:
    """``source``'s files and folders copied to ``target``, all writable."""
    shutil.copytree(source, target, copy_function=shutil.copyfile)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


@pytest.fixture(scope="session")
def example_engine(example_index, tmp_path_factory):
    """The bot as ``qabot`` builds it (default settings, the shipped models) over
    ``example_index``, loaded once. Tests share it: each starts its own conversation and
    none changes its settings or models."""
    from qabot.app import build_engine
    from qabot.config import load_settings

    history = tmp_path_factory.mktemp("example-history") / "history.sqlite"
    settings = load_settings(env={}, index_dir=example_index, database_url=f"sqlite:///{history}")
    return build_engine(settings, warm=True)


def _read_only(root: Path) -> None:
    for path in [*root.rglob("*"), root]:
        path.chmod(0o555 if path.is_dir() else 0o444)


@pytest.fixture(scope="session")
def wordpiece():
    """The encoder's real WordPiece tokenizer (token spans), cheap to load."""
    from indexer.embedding import WordPieceTokenizer, default_model_path

    return WordPieceTokenizer(default_model_path())


# fixtures that load the real models: a test using one is marked ``model`` (``make test-fast``
# leaves those out)
MODEL_FIXTURES = {"minilm", "example_build", "example_index", "example_index_copy",
                  "example_engine"}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(autouse=True)
def _models_only_where_marked(request, monkeypatch):
    """Under ``QABOT_TESTS_NO_MODELS=1`` (``make test-fast``), a test that loads a model's
    weights without the ``model`` marker fails, saying so: the fast run really loads none."""
    if (os.environ.get("QABOT_TESTS_NO_MODELS") != "1"
            or request.node.get_closest_marker("model")):
        return
    from transformers import PreTrainedModel

    def refuse(cls, *args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} loads {cls.__name__} weights but is not "
                             "marked 'model'")
    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(refuse))


_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """Under ``CI=true`` a skipped test fails the run: nothing passes CI by not running."""
    if in_ci() and _skipped and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if in_ci() and _skipped:
        terminalreporter.write_line(f"CI=true: {len(_skipped)} test(s) skipped, which fails "
                                    f"the run: {', '.join(_skipped)}", red=True)


def skip_unless_ci(reason: str) -> None:
    """A service a test needs is missing: CI (``CI=true``) fails with the reason, so its tests
    never pass there by skipping; elsewhere the test skips, saying why."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def shared_data(relative: str) -> Path:
    """A file of the public datasets in ``../shared/data``; when it is missing, the test skips
    saying so, and fails under ``CI=true`` (CI has ``../shared`` beside the clone)."""
    path = SHARED_DATA / relative
    if not path.exists():
        skip_unless_ci(f"{relative} not found in {SHARED_DATA} (the shared datasets)")
    return path


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

"""qabot-index end to end: the real CLI, the real MiniLM model, the example knowledge base."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_KB, writable_copy

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [json.loads(line) for line in (ROOT / "tests/data/kb_questions.jsonl").open()]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "indexer.cli", *args],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def index_cli(capsys):
    """``qabot-index`` run in this process (its ``main``), so the commands that embed reuse
    the encoder the session loaded; the ``built`` fixture runs the first build as a process."""
    from indexer import cli as module

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        capsys.readouterr()
        code = module.main(list(args))
        out, err = capsys.readouterr()
        if check:
            assert code == 0, err
        return subprocess.CompletedProcess(["qabot-index", *args], code, out, err)
    return run


def one_line_error(proc: subprocess.CompletedProcess, code: int, text: str) -> None:
    assert proc.returncode == code
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("qabot-index: error: ") and text in lines[0]


@pytest.fixture
def built(example_build) -> tuple[Path, Path, dict]:
    """The example KB, its index (built once for the session by ``qabot-index build --json``,
    read-only) and the build's report, shared: no test changes them; one that builds or
    removes gets its own copy (``own_copy``)."""
    index, report = example_build
    return EXAMPLE_KB, index, report


@pytest.fixture
def own_copy(built, tmp_path) -> tuple[Path, Path]:
    """A copy of ``built``'s KB and index for a test to change, the index's manifest naming
    the copied KB (as if it had been built there: paths into the KB resolve against it)."""
    from dataclasses import replace

    from indexer.manifest import read_manifest, write_manifest_atomic

    kb, index, _ = built
    kb_copy, index_copy = tmp_path / "kb", tmp_path / "index"
    shutil.copytree(kb, kb_copy)
    writable_copy(index, index_copy)
    write_manifest_atomic(index_copy, replace(read_manifest(index_copy),
                                              knowledge_base=str(kb_copy.resolve())))
    return kb_copy, index_copy


@pytest.mark.slow
@pytest.mark.model
def test_build_indexes_every_file_of_the_example_kb(built):
    kb, _, report = built
    n_files = len([p for p in kb.rglob("*") if p.is_file()])
    assert report["committed"] and report["failures"] == []
    assert len(report["added"]) == n_files
    assert report["passages_added"] > 150 and report["faq_added"] >= 40
    assert report["embedded"] == report["passages_added"] + report["faq_added"]


@pytest.mark.slow
@pytest.mark.model
def test_rebuild_of_unchanged_kb_embeds_nothing(own_copy):
    kb, index = own_copy  # a build: it takes the index's lock, and commits on a bug
    report = json.loads(cli("build", str(kb), "--index", str(index), "--json").stdout)
    assert not report["committed"] and report["embedded"] == 0
    assert report["unchanged"] == len(report["added"]) + report["unchanged"]
    human = cli("build", str(kb), "--index", str(index)).stdout
    assert "Index is up to date" in human


@pytest.mark.slow
@pytest.mark.model
def test_known_question_retrieves_its_article_in_top_3(built, index_cli):
    _, index, _ = built
    out = index_cli("search", "How much is Pro if I pay for a whole year?", "--index", str(index),
              "-k", "3", "--json").stdout
    results = json.loads(out)["results"]
    assert len(results) == 3
    assert "pricing-and-plans.md" in [r["source"] for r in results]
    top = results[0]
    assert {"text", "score", "source", "headings", "page", "start", "end"} <= set(top)
    table = index_cli("search", "Who is the data protection officer?",
                      "--index", str(index)).stdout
    assert table.splitlines()[0].split() == ["#", "score", "source", "text"]
    assert len(table.splitlines()) == 6


@pytest.mark.slow
@pytest.mark.model
def test_question_set_recall_at_3(built, minilm):
    """The 40 hand-written questions: their article must be in the top 3 for at least 85%."""
    from indexer.store import IndexStore

    _, index, _ = built
    store = IndexStore.open(index, model_name=minilm.model_name, dimension=minilm.dimension)
    vectors = minilm.embed([q["question"] for q in QUESTIONS])
    found = [q["source"] in [h.source for h in store.search(v, 3)]
             for q, v in zip(QUESTIONS, vectors)]
    assert sum(found) / len(found) >= 0.85, f"{sum(found)}/{len(found)}"
    pdf = [f for q, f in zip(QUESTIONS, found) if q["source"].endswith(".pdf")]
    assert any(pdf)


@pytest.mark.slow
@pytest.mark.model
def test_faq_search_returns_curated_answers(built, index_cli):
    _, index, _ = built
    out = json.loads(index_cli("search", "can I get my money back", "--faq", "--index", str(index),
                         "-k", "3", "--json").stdout)
    assert all(r["source"] == "faq.csv" and r["answer"] for r in out["results"])
    assert any("refund" in (r["question"] + r["answer"]).lower() for r in out["results"])


@pytest.mark.slow
@pytest.mark.model
def test_stats_remove_and_incremental_update(own_copy, index_cli, minilm):
    kb, index = own_copy  # it removes and adds files
    stats = json.loads(cli("stats", "--index", str(index), "--json", "--files").stdout)
    assert stats["model_name"] == "qabot/retriever-minilm-l6-squad-v1"  # the default
    assert stats["dimension"] == 384 and stats["index_type"] == "flat"
    per_file = {f["source"]: f["passages"] for f in stats["file_list"]}
    assert sum(per_file.values()) == stats["passages"]

    removed = json.loads(cli("remove", str(kb / "webhooks.md"), "--index", str(index),
                             "--json").stdout)
    assert removed["removed"] == ["webhooks.md"]
    assert removed["passages_removed"] == per_file["webhooks.md"]
    after = json.loads(cli("stats", "--index", str(index), "--json").stdout)
    assert after["passages"] == stats["passages"] - per_file["webhooks.md"]

    dry = cli("build", str(kb), "--index", str(index), "--dry-run").stdout
    assert "add    webhooks.md" in dry
    (kb / "offline-mode.md").write_text("# Offline mode\n\nOffline mode keeps 500 notes.\n")
    (kb / "broken.pdf").write_bytes(b"%PDF-1.7 garbage")
    proc = index_cli("build", str(kb), "--index", str(index), "--json")
    report = json.loads(proc.stdout)
    assert report["added"] == ["broken.pdf", "webhooks.md"]
    assert report["updated"] == ["offline-mode.md"]
    assert report["failures"][0]["source"] == "broken.pdf"
    assert "broken PDF" in report["failures"][0]["reason"]
    generation = report["generation"]
    # the broken file is reported again on every build until fixed, but changes nothing
    strict = index_cli("build", str(kb), "--index", str(index), "--strict", "--json",
                       check=False)
    assert json.loads(strict.stdout)["generation"] is None
    assert strict.returncode == 3
    assert json.loads(strict.stdout)["failures"][0]["source"] == "broken.pdf"
    human = index_cli("build", str(kb), "--index", str(index), check=False)
    assert "broken.pdf: broken PDF" in human.stderr
    assert json.loads(cli("stats", "--index", str(index), "--json").stdout)["generation"] == (
        generation
    )


# ----------------------------------------------------------------- user mistakes (no model)


def test_missing_knowledge_base_folder(tmp_path):
    one_line_error(cli("build", str(tmp_path / "nope"), "--index", str(tmp_path / "i"),
                       check=False), 1, "knowledge-base folder not found")


def test_missing_index(tmp_path):
    for command in (["stats"], ["search", "hello"], ["remove", "a.md"]):
        proc = cli(*command, "--index", str(tmp_path / "none"), check=False)
        one_line_error(proc, 1, "no index at")


def test_bad_flags_exit_2_with_usage(tmp_path):
    proc = cli("build", "--chunk-tokens", "lots", check=False)
    assert proc.returncode == 2 and "invalid int value" in proc.stderr
    proc = cli("frobnicate", check=False)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_invalid_values_are_one_line_errors(tmp_path, example_kb):
    proc = cli("build", str(example_kb), "--index", str(tmp_path / "i"), "--chunk-tokens", "999",
               check=False)
    one_line_error(proc, 1, "max_tokens must be between 16 and 254")
    assert not (tmp_path / "i" / "manifest.json").exists()


def test_help_lists_the_commands():
    out = cli("--help").stdout
    for command in ("build", "search", "stats", "remove"):
        assert command in out


def test_concurrent_writer_gets_locked_error(tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "a.md").write_text("# A\n\ntext\n")
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_worker", str(kb), str(tmp_path / "i"), "hold-lock"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = cli("build", str(kb), "--index", str(tmp_path / "i"), check=False)
        one_line_error(proc, 1, "is locked")
    finally:
        holder.kill()
        holder.wait()


def test_unchanged_build_and_stats_never_import_torch(tmp_path, example_kb):
    """Checking hashes or reading an index must not pay for torch / transformers."""
    from indexer.embedding import DEFAULT_MODEL_NAME
    from indexer.sync import build
    from tests.fakes import HashingEmbedder

    index = tmp_path / "index"
    build(example_kb, index, HashingEmbedder(384, DEFAULT_MODEL_NAME))  # same name and dim
    code = (
        "import sys; from indexer.cli import main; "
        f"main(['build', {str(example_kb)!r}, '--index', {str(index)!r}, '--json']); "
        f"main(['stats', '--index', {str(index)!r}]); "
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') "
        "if m in sys.modules]; print('HEAVY', heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    assert '"embedded": 0' in proc.stdout
    assert "HEAVY []" in proc.stdout


SUPPORTED = ".md .markdown .txt .htm .html .pdf .csv .tsv .jsonl"


@pytest.mark.parametrize("files", [{}, {"logo.png": b"\x89PNG", ".notes.md": b"# hidden"}],
                         ids=["empty", "only-ignored"])
def test_a_knowledge_base_with_nothing_to_index_is_an_error_that_writes_nothing(tmp_path, files):
    kb, index = tmp_path / "kb", tmp_path / "state" / "index"
    kb.mkdir()
    for name, data in files.items():
        (kb / name).write_bytes(data)
    for extra in ([], ["--json"], ["--dry-run"]):
        proc = cli("build", str(kb), "--index", str(index), *extra, check=False)
        one_line_error(proc, 1, f"no indexable files in {kb} ({len(files)} ignored, 0 skipped): ")
        assert SUPPORTED in proc.stderr and proc.stdout == ""
        assert not (tmp_path / "state").exists()  # no index folder, nor its parent
    if files:
        assert "logo.png" in proc.stderr and ".notes.md" in proc.stderr


def test_a_knowledge_base_whose_files_all_fail_is_an_error_without_library_noise(tmp_path):
    kb, index = tmp_path / "kb", tmp_path / "index"
    kb.mkdir()
    (kb / "broken.pdf").write_bytes(b"%PDF-1.7 garbage")  # pypdf logs "EOF marker not found"
    (kb / "empty.md").write_text("\n")
    proc = cli("build", str(kb), "--index", str(index), check=False)
    one_line_error(proc, 1, f"no indexable files in {kb} (0 ignored, 2 skipped): broken.pdf: "
                   "broken PDF (")
    assert "empty.md: empty file" in proc.stderr and "EOF marker" not in proc.stderr
    assert not index.exists()


def test_a_sub_commands_bad_flag_prints_its_own_usage(tmp_path):
    proc = cli("build", str(tmp_path), "--bogus", check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: qabot-index build [-h]")
    assert proc.stderr.strip().splitlines()[-1] == (
        "qabot-index build: error: unrecognized arguments: --bogus")
    proc = cli("stats", "--bogus", check=False)
    assert proc.returncode == 2 and "qabot-index stats: error: unrecognized" in proc.stderr


def test_build_help_shows_every_option():
    out = " ".join(cli("build", "--help").stdout.split())
    for option in ("--keep-generations N", "--keep-minutes M", "--no-progress", "--strict",
                   "--dry-run", "--rebuild", "--index-type", "--chunk-tokens N", "--overlap N",
                   "--model NAME|PATH", "--json", "--index DIR"):
        assert option in out

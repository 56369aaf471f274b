"""The crash-safety guarantee and the writer lock, with real processes.

A build is killed at every step of its commit (injected faults) and at random moments
(SIGKILL); the index must always open, be consistent, and answer as either the old or the new
version — never a mix.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer.errors import IndexLockedError
from indexer.manifest import read_manifest
from indexer.store import IndexStore
from indexer.sync import build
from tests.fakes import HashingEmbedder
from tests.test_sync import SMALL, assert_consistent, make_kb

ROOT = Path(__file__).resolve().parent.parent


def worker(kb: Path, index: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.crash_worker", str(kb), str(index), mode],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def prepare(tmp_path: Path) -> tuple[Path, Path, HashingEmbedder]:
    """v1 indexed; the folder then changed to v2 (one file edited, one deleted, one added)."""
    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, emb, chunking=SMALL)
    (kb / "pricing.md").write_text("# Pricing\n\n## Pro\n\nThe Pro plan now costs 11 euro.\n")
    (kb / "sync.txt").unlink()
    for i in range(30):
        (kb / f"extra-{i}.md").write_text(f"# Extra {i}\n\nExtra article number {i} text.\n")
    return kb, index, emb


def version(index: Path, emb: HashingEmbedder) -> str:
    """'v1' or 'v2', after checking the index is consistent and wholly one or the other."""
    store = assert_consistent(index)
    sources = {h.source for h in store.iter_passages()}
    texts = " ".join(h.text for h in store.iter_passages())
    hit = store.search(emb.embed(["pro plan costs euro"])[0], 1)[0]
    if "sync.txt" in sources:
        assert "8 euro" in texts and "11 euro" not in texts and len(sources) == 2
        assert hit.source == "pricing.md" and "8 euro" in hit.text
        return "v1"
    assert "11 euro" in texts and "8 euro" not in texts and len(sources) == 31
    return "v2"


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("embed", "v1"),
        ("faiss-write", "v1"),
        ("before-manifest", "v1"),
        ("manifest-rename", "v1"),
        ("after-manifest", "v2"),
    ],
)
def test_kill_at_each_commit_step_leaves_a_usable_index(tmp_path, step, expected):
    kb, index, emb = prepare(tmp_path)
    proc = worker(kb, index, f"fault:{step}")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 70, err
    assert version(index, emb) == expected
    # the next build recovers: cleans leftovers and completes the change
    report = build(kb, index, emb, chunking=SMALL)
    assert version(index, emb) == "v2"
    assert report.committed == (expected == "v1")
    leftovers = [p.name for p in index.iterdir() if p.name.startswith(".staging")]
    assert leftovers == []
    live = read_manifest(index).generation
    generations = sorted(p.name for p in index.iterdir() if p.name.startswith("gen-"))
    assert live in generations and len(generations) <= 2


@pytest.mark.slow
def test_sigkill_at_random_moments(tmp_path):
    rng = random.Random(11)
    seen = set()
    for trial in range(6):
        kb, index, emb = prepare(tmp_path / f"t{trial}")
        proc = worker(kb, index, "slow")
        assert proc.stdout.readline().strip() == "building"
        time.sleep(rng.uniform(0.0, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        seen.add(version(index, emb))
    assert "v1" in seen  # (v2 is reached only if the kill lands after the commit point)


def test_second_writer_gets_a_clear_locked_error(tmp_path):
    kb, index, emb = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, emb, chunking=SMALL)
    holder = worker(kb, index, "hold-lock")
    try:
        assert holder.stdout.readline().strip() == "locked"
        (kb / "new.md").write_text("# New\n\nnew text\n")
        with pytest.raises(IndexLockedError, match="is locked: another qabot-index"):
            build(kb, index, emb, chunking=SMALL)
        # readers are never blocked by a writer
        assert IndexStore.open(index).search(emb.embed(["refund"])[0], 1)
    finally:
        holder.kill()
        holder.wait()
    # a killed writer's lock is released by the OS: the next build proceeds
    assert build(kb, index, emb, chunking=SMALL).plan.added == ("new.md",)

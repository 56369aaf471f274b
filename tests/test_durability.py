"""Durability: the index's commit protocol reaches the disk in the right order.

The crash tests kill a writer with ``os._exit`` or SIGKILL, which leave the OS page cache
intact: a power cut does not. So the order of the syncs is checked here, on a spy of
``os.fsync`` and the renames. A commit must sync every staged file and folder, then rename the
staging folder to its generation, then sync the index folder (the rename), then write the
manifest aside, sync it, replace the manifest, and sync the index folder again. A missing
fsync, or one after the rename it protects, fails these tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from indexer.manifest import MANIFEST, read_manifest
from indexer.sync import build
from tests.fakes import HashingEmbedder
from tests.test_sync import SMALL, make_kb


@dataclass(frozen=True)
class Event:
    op: str  # "fsync" or "rename"
    path: Path  # the synced file or folder; the rename's source
    target: Path | None = None  # the rename's destination


@pytest.fixture
def disk_log(monkeypatch) -> list[Event]:
    """Every fsync (with the path its descriptor names) and rename, in order; the real calls
    still run."""
    events: list[Event] = []
    real_fsync, real_rename, real_replace = os.fsync, os.rename, os.replace

    def fsync(fd):
        events.append(Event("fsync", Path(os.readlink(f"/proc/self/fd/{fd}"))))
        return real_fsync(fd)

    def renamer(real):
        def rename(src, dst, *args, **kwargs):
            events.append(Event("rename", Path(os.path.abspath(src)),
                                Path(os.path.abspath(dst))))
            return real(src, dst, *args, **kwargs)
        return rename

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", renamer(real_rename))
    monkeypatch.setattr(os, "replace", renamer(real_replace))
    return events


def check_commit_protocol(events: list[Event], index: Path) -> None:
    index = index.resolve()
    live = index / read_manifest(index).generation
    moves = [i for i, e in enumerate(events) if e.op == "rename" and e.target == live]
    assert len(moves) == 1, f"the generation folder is not renamed into place once: {events}"
    move = moves[0]
    staging = events[move].path
    assert staging.parent == index and staging.name.startswith(".staging-")
    synced_before = {e.path for e in events[:move] if e.op == "fsync"}

    # 1. every staged file and folder (the staging folder included) is synced before the rename
    staged = [staging / p.relative_to(live) for p in live.rglob("*")] + [staging]
    unsynced = [str(p.relative_to(index)) for p in staged if p not in synced_before]
    assert not unsynced, f"staged but never fsynced before the rename: {unsynced}"

    # 2. the rename is synced (the index folder) before the manifest names the generation
    switches = [i for i, e in enumerate(events)
                if e.op == "rename" and e.target == index / MANIFEST]
    assert len(switches) == 1 and switches[0] > move
    switch = switches[0]
    assert any(e.op == "fsync" and e.path == index for e in events[move + 1:switch]), \
        "the index folder is not fsynced between the generation's rename and the manifest"

    # 3. the new manifest is synced before it replaces the old one, and the replace after
    aside = events[switch].path
    assert aside.parent == index and aside != index / MANIFEST
    assert any(e.op == "fsync" and e.path == aside for e in events[move + 1:switch]), \
        "the manifest written aside is not fsynced before it replaces the live one"
    assert any(e.op == "fsync" and e.path == index for e in events[switch + 1:]), \
        "the index folder is not fsynced after the manifest is replaced"


def test_a_first_build_syncs_in_commit_order(tmp_path, disk_log):
    kb, index = make_kb(tmp_path / "kb"), tmp_path / "index"
    build(kb, index, HashingEmbedder(), chunking=SMALL)
    check_commit_protocol(disk_log, index)


def test_an_incremental_update_syncs_in_commit_order(tmp_path, disk_log):
    kb, index, embedder = make_kb(tmp_path / "kb"), tmp_path / "index", HashingEmbedder()
    build(kb, index, embedder, chunking=SMALL)
    first = read_manifest(index).generation
    (kb / "pricing.md").write_text("# Pricing\n\n## Pro\n\nThe Pro plan now costs 11 euro.\n")
    disk_log.clear()
    build(kb, index, embedder, chunking=SMALL)
    assert read_manifest(index).generation != first
    check_commit_protocol(disk_log, index)


def test_the_spy_sees_a_missing_fsync(tmp_path, disk_log, monkeypatch):
    """The check is not vacuous: with the staged files' fsync gone, it fails."""
    import indexer.fsutil

    monkeypatch.setattr(indexer.fsutil, "fsync_file", lambda path: None)
    kb, index = make_kb(tmp_path / "kb"), tmp_path / "index"
    build(kb, index, HashingEmbedder(), chunking=SMALL)
    with pytest.raises(AssertionError, match="never fsynced before the rename"):
        check_commit_protocol(disk_log, index)

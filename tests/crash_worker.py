"""Subprocess side of the crash-safety and lock tests.

    python -m tests.crash_worker KB INDEX MODE

MODE is ``slow`` (a slow fake embedder, to be killed at a random moment), ``hold-lock`` (hold
the writer lock until killed), or ``fault:STEP`` (die with os._exit(70) at STEP of the commit).
"""

from __future__ import annotations

import os
import sys
import time

from indexer.chunking import ChunkSettings
from indexer.sync import build
from tests.fakes import HashingEmbedder

SETTINGS = ChunkSettings(max_tokens=48, overlap_tokens=8)


class SlowEmbedder(HashingEmbedder):
    def embed(self, texts, *, progress=False):
        for _ in texts:
            time.sleep(0.02)
        return super().embed(texts, progress=progress)


def die() -> None:
    sys.stdout.flush()
    os._exit(70)


def install_fault(step: str) -> None:
    import indexer.manifest as manifest
    import indexer.vectors as vectors
    import indexer.writer as writer

    if step == "embed":
        HashingEmbedder.embed = lambda self, texts, progress=False: die()
    elif step == "faiss-write":  # first FAISS file written, second not
        real = vectors.write_index
        state = {"n": 0}

        def write_index(index, path):
            real(index, path)
            state["n"] += 1
            if state["n"] == 1:
                die()

        vectors.write_index = write_index  # writer imports it at call time
    elif step == "before-manifest":  # new generation folder in place, manifest not switched
        writer.write_manifest_atomic = lambda index_dir, manifest: die()
    elif step == "manifest-rename":  # temp manifest written and fsynced, not renamed
        real_replace = os.replace

        def replace(src, dst):
            if str(dst).endswith("manifest.json"):
                die()
            real_replace(src, dst)

        os.replace = replace
    elif step == "after-manifest":  # committed, old generations not yet collected
        real = manifest.write_manifest_atomic

        def commit_then_die(index_dir, manifest):
            real(index_dir, manifest)
            die()

        writer.write_manifest_atomic = commit_then_die
    else:
        raise SystemExit(f"unknown fault {step}")


def main() -> None:
    kb, index, mode = sys.argv[1:4]
    if mode == "hold-lock":
        from indexer.writer import IndexLock

        with IndexLock(index):
            print("locked", flush=True)
            time.sleep(60)
        return
    embedder = HashingEmbedder()
    if mode == "slow":
        embedder = SlowEmbedder()
    elif mode.startswith("fault:"):
        install_fault(mode.split(":", 1)[1])
    print("building", flush=True)
    build(kb, index, embedder, chunking=SETTINGS)
    print("done", flush=True)


if __name__ == "__main__":
    main()

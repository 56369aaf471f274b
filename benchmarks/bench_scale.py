"""Memory and time at 100k passages (issue 16): the build's peak memory, and the bot's start-up
time and resident memory with a 100k-passage index (FAISS flat and BM25).

Corpus: ``--size`` real passages (the distractors of ``bench_retriever_scale.py``: windows of
SQuAD v1.1 train and COVID-QA sentences) written as Markdown files of 1,000 sections, indexed
by ``indexer.sync.build`` (load, chunk with the real tokenizer, embed, stage, BM25, commit).
The embedding model's compute is not what is measured here: a stand-in embedder gives each
text a fixed random unit vector of the real model's dimension (384), under the real model's
name, so that the bot opens the index with the real model. The real model's own memory is
measured beside it (loading it in a fresh process).

Each measurement runs in a fresh process and reads its peak (VmHWM) and current (VmRSS)
resident memory from ``/proc/self/status``:
- build: the current code, and the same build with ``--baseline-rev`` (default: the commit
  before batching, which embedded and held every text and vector of a build at once);
- the bot: ``build_engine`` + ``warm_up`` (all models, FAISS, BM25) on the 100k index and on
  the example knowledge base (the baseline), then 20 SQuAD questions answered
  (``ChatEngine.respond``): start-up seconds, resident memory after start-up and after the
  questions, and the answers' p50 latency.

Run: ``.venv/bin/python benchmarks/bench_scale.py [--size 100000]`` (about 10 minutes).
Result: ``benchmarks/results/bench_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import REPO, percentile_ms, write_result

HERE = Path(__file__).resolve().parent
BASELINE_REV = "6b701b0"  # the last commit whose build held a whole build's texts and vectors
PER_FILE = 1000


def memory() -> dict:
    """Peak and current resident memory of this process, MB."""
    status = Path("/proc/self/status").read_text()
    values = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
              if line.startswith(("VmHWM", "VmRSS"))}
    return {"peak_mb": round(values["VmHWM"] / 1024, 1),
            "rss_mb": round(values["VmRSS"] / 1024, 1)}


def write_corpus(kb: Path, size: int) -> int:
    from bench_retriever_scale import distractors

    kb.mkdir(parents=True, exist_ok=True)
    passages = distractors(size)
    for part in range(0, len(passages), PER_FILE):
        sections = [f"## {title}\n\n{text}\n" for title, text in passages[part:part + PER_FILE]]
        (kb / f"part-{part // PER_FILE:04d}.md").write_text(
            f"# Part {part // PER_FILE}\n\n" + "\n".join(sections), encoding="utf-8")
    return len(passages)


# ---------------------------------------------------------------------------- children


def child_build(kb: Path, index: Path) -> dict:
    import hashlib

    import numpy as np

    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build

    class StandIn(SentenceTransformerEmbedder):
        """The real tokenizer, name and dimension; a fixed random unit vector per text."""

        def embed(self, texts, *, progress=False):
            out = np.empty((len(texts), self.dimension), np.float32)
            for i, text in enumerate(texts):
                seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())
                row = np.random.default_rng(seed).standard_normal(self.dimension)
                out[i] = row / np.linalg.norm(row)
            return out

    started = time.perf_counter()
    report = build(kb, index, StandIn())
    return {"seconds": round(time.perf_counter() - started, 1),
            "passages": report.passages_added, **memory()}


def child_bot(index: Path, db: Path, questions: list[str]) -> dict:
    from qabot.app import build_engine
    from qabot.config import Settings

    started = time.perf_counter()
    engine = build_engine(Settings(index_dir=index, database_url=f"sqlite:///{db}"), warm=True)
    startup = time.perf_counter() - started
    after_start = memory()
    conversation = engine.start("bench", "scale")
    latencies = []
    for question in questions:
        t = time.perf_counter()
        engine.respond(conversation, question)
        latencies.append(time.perf_counter() - t)
    return {"startup_seconds": round(startup, 1), "after_startup": after_start,
            "after_questions": memory(), "respond_p50_ms": percentile_ms(latencies, 50)}


def child_model() -> dict:
    from indexer.embedding import SentenceTransformerEmbedder

    before = memory()
    SentenceTransformerEmbedder().warm_up()
    return {"before": before, "after": memory()}


def run_child(kind: str, *args: str, code: Path | None = None) -> dict:
    env_path = [str(code)] if code else []
    command = [sys.executable, __file__, "--child", kind, *args]
    env = {**os.environ,
           "PYTHONPATH": ":".join([*env_path, str(REPO), str(HERE)])}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env,
                         cwd=code or REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def worktree(rev: str) -> Path:
    path = REPO / ".qabot" / "bench" / f"worktree-{rev}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], check=True,
                       cwd=REPO, capture_output=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "build":
        print(json.dumps(child_build(Path(args.args[0]), Path(args.args[1]))))
        return
    if args.child == "bot":
        print(json.dumps(child_bot(Path(args.args[0]), Path(args.args[1]),
                                   json.loads(args.args[2]))))
        return
    if args.child == "model":
        print(json.dumps(child_model()))
        return

    started = time.perf_counter()
    from _common import load_squad

    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build

    questions = [q["question"] for article in load_squad()[:2]
                 for p in article["paragraphs"] for q in p["qas"]][:20]
    with tempfile.TemporaryDirectory(prefix="qabot-scale-") as tmp:
        tmp = Path(tmp)
        n = write_corpus(tmp / "kb", args.size)
        print(f"corpus: {n} passages in {len(list((tmp / 'kb').iterdir()))} files", flush=True)
        now = run_child("build", str(tmp / "kb"), str(tmp / "index"))
        print("build now:", now, flush=True)
        before = run_child("build", str(tmp / "kb"), str(tmp / "index-baseline"),
                           code=worktree(args.baseline_rev))
        print(f"build at {args.baseline_rev}:", before, flush=True)
        model = run_child("model")
        print("model alone:", model, flush=True)
        bot_big = run_child("bot", str(tmp / "index"), str(tmp / "h1.sqlite"),
                            json.dumps(questions))
        print("bot, 100k index:", bot_big, flush=True)
        build(REPO / "examples" / "kb", tmp / "example-index", SentenceTransformerEmbedder())
        bot_small = run_child("bot", str(tmp / "example-index"), str(tmp / "h2.sqlite"),
                              json.dumps(questions))
        print("bot, example KB:", bot_small, flush=True)
        on_disk = sum(f.stat().st_size for f in (tmp / "index").rglob("*") if f.is_file())
    write_result("bench_scale", {
        "passages_written": n, "index_on_disk_mb": round(on_disk / 2**20, 1),
        "build": {"now": now, "baseline": {"rev": args.baseline_rev, **before}},
        "model_alone": model,
        "bot": {"index_100k": bot_big, "example_kb": bot_small},
    }, started)


if __name__ == "__main__":
    main()

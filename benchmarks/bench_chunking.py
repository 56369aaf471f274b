"""Retrieval quality against chunk size: a sweep of (max_tokens, overlap) on the example KB.

What it measures
----------------
For each chunk setting (default 64/16, 96/24, 128/32, 160/32, 200/40, 254/48; the project
default is 160/32) it builds an index of ``examples/kb`` with the real all-MiniLM-L6-v2
(``indexer.sync.build(..., chunking=ChunkSettings(max_tokens, overlap_tokens))``, a fresh
index folder in a temporary directory each time) and asks the 40 questions of
``tests/data/kb_questions.jsonl`` (fields question, source, answer), embedded once with the
same embedder, with ``IndexStore.search(vector, k=3)`` over the passages (the FAQ sheet's
entries live in a separate FAQ index and are not searched here):

* source recall@1: the top passage comes from the question's ``source`` file;
* source recall@3: one of the top 3 passages does;
* answer-in-top-3: the ``answer`` string appears verbatim (case-sensitive) in the text of one
  of the top 3 passages; ``answer_in_top3_normalised`` also counts matches after collapsing
  whitespace and case (PDF text may break lines inside an answer).

Also reported per setting: passages, mean tokens per passage, build seconds (model load
excluded; the embedder is warmed up first).

Only the example knowledge base and questions of this repository are read; nothing from
``../shared/data`` is needed.

Run: ``.venv/bin/python benchmarks/bench_chunking.py`` (about 1 minute on 2 CPU cores).
Result: ``benchmarks/results/bench_chunking.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import REPO, write_result

KB = REPO / "examples" / "kb"
QUESTIONS = REPO / "tests" / "data" / "kb_questions.jsonl"
DEFAULT_SETTINGS = "64/16,96/24,128/32,160/32,200/40,254/48"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Source recall@1/@3 and answer-in-top-3 on examples/kb for a sweep of "
        "chunk settings (max_tokens/overlap), with the real encoder.",
    )
    p.add_argument("--settings", default=DEFAULT_SETTINGS,
                   help=f"comma-separated max_tokens/overlap pairs (default {DEFAULT_SETTINGS})")
    return p.parse_args()


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    for path, what in ((KB, "example knowledge base"), (QUESTIONS, "test questions")):
        if not path.exists():
            sys.exit(f"error: {what} not found at {path}")
    try:
        settings = [tuple(int(x) for x in pair.split("/")) for pair in args.settings.split(",")]
    except ValueError:
        sys.exit(f"error: --settings must look like {DEFAULT_SETTINGS}")

    import numpy as np

    from indexer.chunking import ChunkSettings
    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.store import IndexStore
    from indexer.sync import build

    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    qvecs = embedder.embed([q["question"] for q in questions])
    print(f"{len(questions)} questions, knowledge base {KB.relative_to(REPO)}")

    tmp = tempfile.TemporaryDirectory(prefix="qabot-bench-chunking-")
    rows = []
    for max_tokens, overlap in settings:
        chunking = ChunkSettings(max_tokens=max_tokens, overlap_tokens=overlap)
        index_dir = Path(tmp.name) / f"index-{max_tokens}-{overlap}"
        t = time.perf_counter()
        report = build(KB, index_dir, embedder, chunking=chunking)
        t_build = time.perf_counter() - t
        if report.failures:
            print(f"warning: {len(report.failures)} files failed: {report.failures}")
        r1 = r3 = a3 = a3n = 0
        misses = []
        with IndexStore.open(index_dir) as store:
            n_tokens = [h.text for h in store.iter_passages()]
            tokens = [len(embedder.token_spans(text)) for text in n_tokens]
            for q, vec in zip(questions, qvecs):
                hits = store.search(vec, k=3)
                sources = [h.source for h in hits]
                r1 += bool(sources) and sources[0] == q["source"]
                r3 += q["source"] in sources
                found = any(q["answer"] in h.text for h in hits)
                a3 += found
                a3n += any(_norm(q["answer"]) in _norm(h.text) for h in hits)
                if not found:
                    misses.append({"question": q["question"], "source": q["source"],
                                   "answer": q["answer"], "top3_sources": sources})
        n = len(questions)
        row = {
            "max_tokens": max_tokens,
            "overlap_tokens": overlap,
            "passages": report.passages_added,
            "faq_entries": report.faq_added,
            "mean_passage_tokens": round(float(np.mean(tokens)), 1),
            "build_s": round(t_build, 2),
            "source_recall_at_1": round(r1 / n, 3),
            "source_recall_at_3": round(r3 / n, 3),
            "answer_in_top3": round(a3 / n, 3),
            "answer_in_top3_normalised": round(a3n / n, 3),
            "answer_misses": misses,
        }
        rows.append(row)
        print(f"  {max_tokens:3d}/{overlap:<3d} passages {row['passages']:4d} | "
              f"R@1 {r1}/{n} R@3 {r3}/{n} answer@3 {a3}/{n} | build {t_build:.1f} s")

    result = {
        "knowledge_base": str(KB.relative_to(REPO)),
        "questions": len(questions),
        "default_setting": "160/32",
        "rows": rows,
    }
    path = write_result("bench_chunking", result, started)

    print()
    print(f"== Chunk-size sweep on {KB.relative_to(REPO)}, {len(questions)} questions ==")
    print(f"  {'setting':>8} {'passages':>8} {'tokens':>6} {'R@1':>6} {'R@3':>6} "
          f"{'ans@3':>6} {'build s':>7}")
    for r in rows:
        mark = "  (default)" if (r["max_tokens"], r["overlap_tokens"]) == (160, 32) else ""
        print(f"  {r['max_tokens']:>4}/{r['overlap_tokens']:<3} {r['passages']:>8} "
              f"{r['mean_passage_tokens']:>6} {r['source_recall_at_1']:>6.3f} "
              f"{r['source_recall_at_3']:>6.3f} {r['answer_in_top3']:>6.3f} "
              f"{r['build_s']:>7.1f}{mark}")
    print(f"  total run time {time.perf_counter() - started:.0f} s; result "
          f"{path.relative_to(REPO)}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The shipped retriever at 100k real passages: recall and latency, flat vs HNSW (issue 15).

Corpus: the SQuAD v1.1 eval split (its 12 dev articles as Markdown, indexed by the real
indexer at the default chunking) plus distractor passages up to ``--size`` in all: windows of
two consecutive sentences of the SQuAD v1.1 train paragraphs (442 other articles, ~75k
windows), then of the COVID-QA papers (~14k), then single sentences of the SQuAD train
paragraphs for the rest (near-duplicates of the windows: harder, not easier), each with its
article's title, embedded with the same model (cached under ``.qabot/bench/``). They are
added through the project's own ``IndexWriter`` as files of 1,000 passages, so the dense,
BM25 and hybrid searches see one 100k-passage index, built twice: FAISS flat and HNSW (M=32,
efSearch=64, ``qabot-index build --index-type hnsw``).

Questions: the eval split's 1,877 questions; a hit is gold as in ``bench_retrieval.py``. For
flat and HNSW: recall@1/5/20 and MRR of dense and hybrid retrieval; the latency of one query's
dense search (``IndexStore.search``, k=20, SQLite rows included) and of the bot's hybrid
``Retriever.search`` (k=5: FAISS, BM25 over 100k passages, fusion, rows), p50/p95 over the
questions, the query's embedding excluded; build (commit) time and index size on disk.
The same questions against the 12 articles alone are the baseline.

Run: ``.venv/bin/python benchmarks/bench_retriever_scale.py [--size 100000]``
(embedding the distractors takes ~20 minutes the first time).
Result: ``benchmarks/results/bench_retriever_scale.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
import numpy as np
from _common import DATA, REPO, percentile_ms, require, write_result
from bench_retrieval import retrieval_metrics

SQUAD_DEV = DATA / "squad" / "v1.1" / "dev-v1.1.json"
SQUAD_SPLIT = DATA / "squad" / "splits.json"
SQUAD_TRAIN = DATA / "squad" / "v1.1" / "train-v1.1-explorer.json"
COVID = DATA / "covid_qa" / "200423_covidQA.json"
CACHE = REPO / ".qabot" / "bench"
PER_FILE = 1000
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def distractors(n: int) -> list[tuple[str, str]]:
    """``n`` (title, text) distractors: windows of two consecutive sentences of the SQuAD v1.1
    train paragraphs, then of the COVID-QA papers, then single sentences of the SQuAD train
    paragraphs, in file order."""
    out: list[tuple[str, str]] = []
    for path, what, width in ((SQUAD_TRAIN, "SQuAD v1.1 train", 2), (COVID, "COVID-QA", 2),
                              (SQUAD_TRAIN, "SQuAD v1.1 train", 1)):
        data = json.loads(require(path, what).read_text())["data"]
        for article in data:
            title = str(article.get("title") or "COVID-19 research paper").replace("_", " ")
            for paragraph in article["paragraphs"]:
                sentences = [s.strip() for s in _SENTENCE.split(paragraph["context"].strip())
                             if s.strip()]
                for i in range(0, max(1, len(sentences) - width + 1)):
                    out.append((title, " ".join(sentences[i:i + width])))
                    if len(out) == n:
                        return out
    return out


def embedded(embedder, texts: list[str], part: int = 20_000) -> np.ndarray:
    """The texts' vectors, cached under .qabot/bench/ in parts (an interrupted run resumes)."""
    parts = []
    for at in range(0, len(texts), part):
        chunk = texts[at:at + part]
        key = hashlib.sha256((embedder.model_name + "\n" + "\n".join(chunk)).encode()).hexdigest()
        path = CACHE / f"scale-{key[:16]}.npy"
        if not path.is_file():
            CACHE.mkdir(parents=True, exist_ok=True)
            np.save(path, embedder.embed(chunk, progress=True))
        parts.append(np.load(path))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dimension), np.float32)


def add_distractors(index: Path, embedder, items: list[tuple[str, str]],
                    vectors: np.ndarray) -> float:
    from indexer.documents import Passage
    from indexer.manifest import read_manifest
    from indexer.writer import FileRecord, IndexWriter

    m = read_manifest(index)
    started = time.perf_counter()
    with IndexWriter(index, model_name=m.model_name, dimension=m.dimension,
                     spec=m.vector_spec) as writer:
        for f, at in enumerate(range(0, len(items), PER_FILE)):
            source = f"distractors/{f:04d}.md"
            passages, offset = [], 0
            for title, text in items[at:at + PER_FILE]:
                passages.append(Passage(source=source, title=title, text=text, start=offset,
                                        end=offset + len(text)))
                offset += len(text) + 2
            record = FileRecord(source, hashlib.sha256(source.encode()).hexdigest(), offset)
            writer.add_file(record, passages, vectors[at:at + len(passages)])
        writer.commit()
    return time.perf_counter() - started


def latency(index: Path, embedder, questions) -> dict:
    from qabot.retrieval import Retriever

    retriever = Retriever(index, embedder, mode="hybrid")
    vectors = embedder.embed([q.question for q in questions])
    retriever.search(questions[0].question, 5, vector=vectors[0])  # loads FAISS and BM25
    dense, hybrid = [], []
    for q, v in zip(questions, vectors):
        t = time.perf_counter()
        retriever.store.search(v, 20)
        dense.append(time.perf_counter() - t)
        t = time.perf_counter()
        retriever.search(q.question, 5, vector=v)
        hybrid.append(time.perf_counter() - t)
    return {"dense_search_p50_ms": round(percentile_ms(dense, 50), 2),
            "dense_search_p95_ms": round(percentile_ms(dense, 95), 2),
            "hybrid_search_p50_ms": round(percentile_ms(hybrid, 50), 2),
            "hybrid_search_p95_ms": round(percentile_ms(hybrid, 95), 2)}


def size_mb(index: Path) -> float:
    return round(sum(f.stat().st_size for f in index.rglob("*") if f.is_file()) / 1e6, 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=100_000, help="passages in all (default 100k)")
    p.add_argument("--model", help="embedding model: a bundled name or a folder (default: the "
                   "shipped retriever)")
    p.add_argument("--limit", type=int, help="questions (default: all)")
    args = p.parse_args()
    started = time.perf_counter()

    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.evaluation.pipeline import write_knowledge_base
    from qabot.retrieval import Retriever
    from qabot.training.squad import read_title_list

    embedder = SentenceTransformerEmbedder.named(args.model)
    embedder.warm_up()
    work = Path(tempfile.mkdtemp(prefix="qabot-bench-scale-"))
    titles = read_title_list(f"{require(SQUAD_SPLIT, 'splits')}:eval_titles")
    questions = write_knowledge_base(require(SQUAD_DEV, "SQuAD v1.1 dev"), work / "kb", titles,
                                     args.limit)
    flat = work / "flat"
    build(work / "kb", flat, embedder)
    base = Retriever(flat, embedder).store.stats().passages
    result: dict = {"model": embedder.model_name, "questions": len(questions),
                    "eval_passages": base, "baseline_12_articles": {}, "flat": {}, "hnsw": {}}
    result["baseline_12_articles"] = {
        **retrieval_metrics(questions, Retriever(flat, embedder), ("dense", "hybrid")),
        **latency(flat, embedder, questions)}
    print("12 articles", result["baseline_12_articles"], flush=True)

    items = distractors(args.size - base)
    t = time.perf_counter()
    vectors = embedded(embedder, [f"{title}\n{text}" for title, text in items])
    result["distractors"] = len(items)
    result["embed_seconds_or_cached"] = round(time.perf_counter() - t, 1)
    hnsw = work / "hnsw"
    build(work / "kb", hnsw, embedder, index_type="hnsw")
    for kind, index in (("flat", flat), ("hnsw", hnsw)):
        result[kind]["build_seconds"] = round(add_distractors(index, embedder, items, vectors), 1)
    for kind, index in (("flat", flat), ("hnsw", hnsw)):
        retriever = Retriever(index, embedder)
        result[kind].update({"passages": retriever.store.stats().passages,
                             "size_mb": size_mb(index),
                             **retrieval_metrics(questions, retriever, ("dense", "hybrid")),
                             **latency(index, embedder, questions)})
        print(kind, result[kind], flush=True)
        write_result("bench_retriever_scale", result, started)
    shutil.rmtree(work, ignore_errors=True)
    path = write_result("bench_retriever_scale", result, started)
    print(f"total {time.perf_counter() - started:.0f} s; result {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())

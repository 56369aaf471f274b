"""Retrieval quality on real question sets: dense vs BM25 vs hybrid, chunk sizes, flat vs HNSW,
and the whole pipeline end to end.

Sets: the SQuAD v1.1 eval split (its 12 articles as the knowledge base, 1,877 questions) and the
COVID-QA eval papers (``benchmarks/covid_qa_split.json``: 29 papers, 472 questions), each
written as one Markdown file per article and indexed with the real indexer and encoder. A
retrieved passage is gold when it overlaps the question's paragraph (the whole paper for
COVID-QA) and contains a gold answer (``qabot.evaluation.pipeline.is_gold``).

1. For each set and chunk setting (passage tokens / overlap): recall@1/5/20 and MRR@20 of
   dense (all-MiniLM-L6-v2), BM25 and hybrid (weighted reciprocal rank fusion: BM25 ranks
   weigh 1, dense 0.5, k=10).
2. Flat vs HNSW (M=32, efSearch=64) at the default chunking: recall and search latency.
3. End to end with ``qabot eval pipeline``'s evaluator at the default chunking, for dense and
   hybrid retrieval: the reader given the gold paragraph vs the pipeline (top 5); on COVID-QA
   the first 100 questions (the gold "paragraph" is a whole paper, slow to read).
4. The fusion's own settings at the default chunking: dense weight x RRF constant.

Run: ``.venv/bin/python benchmarks/bench_retrieval.py [--skip-end-to-end] [--limit N]``.
Result: ``benchmarks/results/bench_retrieval.json``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
import numpy as np
from _common import DATA, REPO, RESULTS, require, write_result

SQUAD = DATA / "squad" / "v1.1" / "dev-v1.1.json"
SQUAD_SPLIT = DATA / "squad" / "splits.json"
COVID = DATA / "covid_qa" / "200423_covidQA.json"
COVID_SPLIT = REPO / "benchmarks" / "covid_qa_split.json"
CHUNKINGS = ((96, 16), (160, 32), (224, 48))
MODES = ("dense", "bm25", "hybrid")


def retrieval_metrics(questions, retriever, modes=MODES) -> dict:
    vectors = retriever.embedder.embed([q.question for q in questions])
    from qabot.evaluation.pipeline import is_gold

    out = {}
    for mode in modes:
        ranks = []
        for q, v in zip(questions, vectors):
            hits = retriever.search(q.question, 20, mode=mode, vector=v)
            ranks.append(next((i for i, h in enumerate(hits, 1) if is_gold(h, q)), None))
        n = len(ranks)
        out[mode] = {**{f"recall@{k}": round(100 * sum(1 for r in ranks if r and r <= k) / n, 2)
                        for k in (1, 5, 20)},
                     "mrr@20": round(sum(1 / r for r in ranks if r) / n, 4)}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--skip-end-to-end", action="store_true")
    p.add_argument("--end-to-end-only", action="store_true",
                   help="keep the retrieval results of the last run, redo the end-to-end part")
    p.add_argument("--limit", type=int, help="questions per set (default: all)")
    p.add_argument("--covid-e2e-limit", type=int, default=100,
                   help="end to end on COVID-QA reads whole papers for the gold score: the "
                   "first N questions only (default 100)")
    args = p.parse_args()
    started = time.perf_counter()

    from indexer.chunking import ChunkSettings
    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.evaluation.pipeline import run_pipeline_eval, write_knowledge_base
    from qabot.retrieval import Retriever
    from qabot.training.squad import read_title_list

    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    sets = {"squad_v1.1_eval": (require(SQUAD, "SQuAD v1.1 dev"),
                                read_title_list(f"{require(SQUAD_SPLIT, 'splits')}:eval_titles")),
            "covid_qa_eval": (require(COVID, "COVID-QA"),
                              read_title_list(f"{COVID_SPLIT}:eval_titles"))}
    result: dict = {"chunking": {}, "fusion": {}, "index_type": {}, "end_to_end": {}}
    work = Path(tempfile.mkdtemp(prefix="qabot-bench-retrieval-"))
    if args.end_to_end_only:
        import json

        previous = json.loads((RESULTS / "bench_retrieval.json").read_text())
        result.update({k: previous[k] for k in ("chunking", "fusion", "index_type")})
        result["retrieval_measured"] = previous["date"]
    for name, (data, titles) in sets.items() if not args.end_to_end_only else ():
        questions = write_knowledge_base(data, work / name / "kb", titles, args.limit)
        result["chunking"][name] = {}
        for tokens, overlap in CHUNKINGS:
            index = work / name / f"index-{tokens}-{overlap}"
            t0 = time.perf_counter()
            build(work / name / "kb", index, embedder,
                  chunking=ChunkSettings(max_tokens=tokens, overlap_tokens=overlap))
            retriever = Retriever(index, embedder)
            row = {"passages": retriever.store.stats().passages,
                   "index_seconds": round(time.perf_counter() - t0, 1),
                   **retrieval_metrics(questions, retriever)}
            result["chunking"][name][f"{tokens}/{overlap}"] = row
            print(name, tokens, overlap, row, flush=True)
            write_result("bench_retrieval", result, started)
        # the fusion's settings at the default chunking
        fusion = {}
        for weight, rrf_k in ((1.0, 60), (0.5, 60), (1.0, 10), (0.5, 10), (0.3, 10)):
            retriever = Retriever(work / name / "index-160-32", embedder, dense_weight=weight,
                                  rrf_k=rrf_k)
            fusion[f"dense_weight={weight},k={rrf_k}"] = retrieval_metrics(
                questions, retriever, ("hybrid",))["hybrid"]
        result.setdefault("fusion", {})[name] = fusion
        print(name, fusion, flush=True)
        # flat vs HNSW at the default chunking
        flat = work / name / "index-160-32"
        hnsw = work / name / "index-hnsw"
        shutil.copytree(flat, hnsw)
        build(work / name / "kb", hnsw, embedder, index_type="hnsw")
        vectors = embedder.embed([q.question for q in questions])
        row = {}
        for kind, index in (("flat", flat), ("hnsw", hnsw)):
            retriever = Retriever(index, embedder)
            retriever.search(questions[0].question, 20, mode="dense", vector=vectors[0])
            t0 = time.perf_counter()
            for q, v in zip(questions, vectors):
                retriever.search(q.question, 20, mode="dense", vector=v)
            ms = (time.perf_counter() - t0) * 1000 / len(vectors)
            row[kind] = {"dense_search_ms": round(ms, 3),
                         **retrieval_metrics(questions, retriever, ("dense",))["dense"]}
        result["index_type"][name] = row
        print(name, row, flush=True)
        write_result("bench_retrieval", result, started)

    if not args.skip_end_to_end:
        from qabot.reader.model import Reader

        reader = Reader()
        for name, (data, titles) in sets.items():
            result["end_to_end"][name] = {}
            for mode in ("dense", "hybrid"):
                t0 = time.perf_counter()
                limit = (min(args.limit or 10**9, args.covid_e2e_limit)
                         if name.startswith("covid") else args.limit)
                summary = run_pipeline_eval(data, work / name / f"e2e-{mode}", titles=titles,
                                            limit=limit, mode=mode, modes=(mode,),
                                            embedder=embedder, reader=reader)
                summary.pop("curve")
                summary["seconds"] = round(time.perf_counter() - t0, 1)
                result["end_to_end"][name][mode] = summary
                print(name, mode, {k: summary[k] for k in ("reader_given_gold", "end_to_end",
                                                          "at_threshold")}, flush=True)
                write_result("bench_retrieval", result, started)
    shutil.rmtree(work, ignore_errors=True)
    path = write_result("bench_retrieval", result, started)
    print(f"total {time.perf_counter() - started:.0f} s; result {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())

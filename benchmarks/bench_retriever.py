"""The trained retriever (and reranker) against the general encoder, in one run (issue 15).

Sets (each written as one Markdown file per article and indexed with the real indexer at the
default chunking, 160/32 tokens; a retrieved passage is gold when it overlaps the question's
paragraph and holds a gold answer, ``qabot.evaluation.pipeline.is_gold``):

- eval: the SQuAD v1.1 eval split (12 dev articles) and the COVID-QA eval papers (29);
- validation: the 8 SQuAD train articles held out from every training run
  (``benchmarks/squad_train_split.json: held_out_titles``) and the COVID-QA train papers
  (``benchmarks/covid_qa_split.json: train_titles``, the first ``--val-covid`` of them).

1. For each encoder, the general all-MiniLM-L6-v2 and the shipped retriever (and ``--model
   DIR`` if given), recall@1/5/20 and MRR@20 of dense, BM25 and hybrid retrieval.
2. The fusion weights for the shipped retriever (dense weight x RRF constant), chosen on the
   validation sets (mean recall@5, then MRR) and reported on the eval sets beside the
   shipped defaults.
3. With ``--reranker DIR``: the hybrid top ``--candidates`` reranked by the cross-encoder,
   recall and the reranker's time per question.

Run: ``.venv/bin/python benchmarks/bench_retriever.py [--reranker DIR] [--limit N]``
(about 15 minutes on 2 cores). Result: ``benchmarks/results/bench_retriever.json``.
"""

from __future__ import annotations

import argparse
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
COVID_SPLIT = REPO / "benchmarks" / "covid_qa_split.json"
TRAIN_SPLIT = REPO / "benchmarks" / "squad_train_split.json"
FUSION_GRID = [(w, k) for w in (0.5, 1.0, 1.5, 2.0) for k in (10, 60)]


def sets(val_covid: int) -> dict[str, tuple[str, Path, list[str]]]:
    from qabot.training.squad import read_title_list

    covid_train = read_title_list(f"{COVID_SPLIT}:train_titles")[:val_covid]
    return {
        "squad_eval": ("eval", require(SQUAD_DEV, "SQuAD v1.1 dev"),
                       read_title_list(f"{require(SQUAD_SPLIT, 'splits')}:eval_titles")),
        "covid_eval": ("eval", require(COVID, "COVID-QA"),
                       read_title_list(f"{COVID_SPLIT}:eval_titles")),
        "squad_val": ("validation", require(SQUAD_TRAIN, "SQuAD v1.1 train"),
                      read_title_list(f"{TRAIN_SPLIT}:held_out_titles")),
        "covid_val": ("validation", COVID, covid_train),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, help="another retriever folder to compare")
    p.add_argument("--reranker", type=Path, help="a cross-encoder folder to measure")
    p.add_argument("--candidates", type=int, default=20, help="passages reranked (default 20)")
    p.add_argument("--limit", type=int, help="questions per set (default: all)")
    p.add_argument("--val-covid", type=int, default=30,
                   help="COVID-QA train papers in the validation set (default 30)")
    p.add_argument("--rerank-only", action="store_true",
                   help="with --reranker: only the eval sets, the shipped retriever's hybrid "
                   "ranking with and without the reranker (result: bench_retriever_rerank.json)")
    args = p.parse_args()
    if args.rerank_only:
        if not args.reranker:
            p.error("--rerank-only needs --reranker DIR")
        return rerank_only(args)
    started = time.perf_counter()

    from indexer.embedding import BASE_MODEL_NAME, DEFAULT_MODEL_NAME, SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.evaluation.pipeline import write_knowledge_base
    from qabot.retrieval import Retriever
    from qabot.retrieval.retriever import DENSE_WEIGHT, RRF_K

    encoders = {"general": SentenceTransformerEmbedder.named(BASE_MODEL_NAME),
                "retriever": SentenceTransformerEmbedder.named(DEFAULT_MODEL_NAME)}
    if args.model:
        encoders["model"] = SentenceTransformerEmbedder.named(args.model)
    for embedder in encoders.values():
        embedder.warm_up()
    work = Path(tempfile.mkdtemp(prefix="qabot-bench-retriever-"))
    result: dict = {"encoders": {k: e.model_name for k, e in encoders.items()},
                    "shipped_fusion": {"dense_weight": DENSE_WEIGHT, "rrf_k": RRF_K},
                    "sets": {}, "recall": {}, "fusion": {}, "rerank": {}}
    questions, indexes = {}, {}
    for name, (role, data, titles) in sets(args.val_covid).items():
        questions[name] = write_knowledge_base(data, work / name / "kb", titles, args.limit)
        result["sets"][name] = {"role": role, "articles": len(titles),
                                "questions": len(questions[name])}
        for key, embedder in encoders.items():
            if role == "validation" and key == "general":
                continue  # the fusion is tuned for the shipped retriever only
            index = indexes[name, key] = work / name / f"index-{key}"
            t0 = time.perf_counter()
            build(work / name / "kb", index, embedder)
            retriever = Retriever(index, embedder)
            row = {"passages": retriever.store.stats().passages,
                   "index_seconds": round(time.perf_counter() - t0, 1),
                   **retrieval_metrics(questions[name], retriever)}
            result["recall"].setdefault(name, {})[key] = row
            print(name, key, row, flush=True)
            write_result("bench_retriever", result, started)

    # 2. the fusion's weights for the shipped retriever, chosen on validation
    embedder = encoders["retriever"]
    for name in questions:
        grid = {}
        for weight, rrf_k in FUSION_GRID:
            retriever = Retriever(indexes[name, "retriever"], embedder, dense_weight=weight,
                                  rrf_k=rrf_k)
            grid[f"{weight},{rrf_k}"] = retrieval_metrics(questions[name], retriever,
                                                          ("hybrid",))["hybrid"]
        result["fusion"][name] = grid
        print(name, "fusion", grid, flush=True)
    validation = [n for n, (role, _, _) in sets(args.val_covid).items() if role == "validation"]

    def merit(cell: str) -> tuple[float, float]:
        rows = [result["fusion"][n][cell] for n in validation]
        return (float(np.mean([r["recall@5"] for r in rows])),
                float(np.mean([r["mrr@20"] for r in rows])))

    best = max(result["fusion"]["squad_val"], key=merit)
    result["fusion_chosen_on_validation"] = {
        "dense_weight,rrf_k": best, "validation_mean_recall@5": round(merit(best)[0], 2),
        "shipped_validation_mean_recall@5": round(merit(f"{DENSE_WEIGHT},{RRF_K}")[0], 2)}
    print("chosen on validation:", result["fusion_chosen_on_validation"], flush=True)
    write_result("bench_retriever", result, started)

    # 3. the reranker over the hybrid candidates
    if args.reranker:
        from qabot.retrieval.rerank import CrossEncoderReranker

        reranker = CrossEncoderReranker(args.reranker)
        reranker.warm_up()
        for name in questions:
            timed = _TimedReranker(reranker)
            retriever = Retriever(indexes[name, "retriever"], embedder, mode="hybrid",
                                  reranker=timed, rerank_candidates=args.candidates)
            row = retrieval_metrics(questions[name], retriever, ("hybrid",))["hybrid"]
            row.update({"candidates": args.candidates,
                        "rerank_p50_ms": round(percentile_ms(timed.seconds, 50), 1),
                        "rerank_p95_ms": round(percentile_ms(timed.seconds, 95), 1)})
            result["rerank"][name] = row
            print(name, "reranked", row, flush=True)
            write_result("bench_retriever", result, started)
    shutil.rmtree(work, ignore_errors=True)
    path = write_result("bench_retriever", result, started)
    print(f"total {time.perf_counter() - started:.0f} s; result {path.relative_to(REPO)}")
    return 0


def rerank_only(args) -> int:
    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.evaluation.pipeline import write_knowledge_base
    from qabot.retrieval import Retriever
    from qabot.retrieval.rerank import CrossEncoderReranker

    started = time.perf_counter()
    embedder = SentenceTransformerEmbedder()
    reranker = CrossEncoderReranker(args.reranker)
    reranker.warm_up()
    work = Path(tempfile.mkdtemp(prefix="qabot-bench-rerank-"))
    result: dict = {"reranker": str(args.reranker), "candidates": args.candidates,
                    "limit": args.limit, "sets": {}}
    for name, (role, data, titles) in sets(args.val_covid).items():
        if role != "eval":
            continue
        questions = write_knowledge_base(data, work / name / "kb", titles, args.limit)
        build(work / name / "kb", work / name / "index", embedder)
        timed = _TimedReranker(reranker)
        plain = Retriever(work / name / "index", embedder, mode="hybrid")
        reranked = Retriever(work / name / "index", embedder, mode="hybrid", reranker=timed,
                             rerank_candidates=args.candidates)
        row = {"questions": len(questions),
               "hybrid": retrieval_metrics(questions, plain, ("hybrid",))["hybrid"],
               "reranked": retrieval_metrics(questions, reranked, ("hybrid",))["hybrid"],
               "rerank_p50_ms": round(percentile_ms(timed.seconds, 50), 1),
               "rerank_p95_ms": round(percentile_ms(timed.seconds, 95), 1)}
        result["sets"][name] = row
        print(name, row, flush=True)
        write_result("bench_retriever_rerank", result, started)
    shutil.rmtree(work, ignore_errors=True)
    return 0


class _TimedReranker:
    def __init__(self, reranker):
        self.reranker = reranker
        self.seconds: list[float] = []

    def score(self, question, passages):
        t = time.perf_counter()
        scores = self.reranker.score(question, passages)
        self.seconds.append(time.perf_counter() - t)
        return scores


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())

"""Search latency at 10k and 100k passages, flat vs HNSW, and HNSW recall@10 against flat.

Data
----
Embedding 100k real passages would take ~25 minutes on 2 CPU cores, so the corpus is
synthetic around real embeddings:

* Seeds: ``--seeds`` sentences (default 10,000) of the SQuAD v1.1 dev paragraphs
  (``../shared/data/squad/v1.1/dev-v1.1.json``), embedded with the real all-MiniLM-L6-v2.
* Passage vectors: vector i = normalise(seed[i mod S] + sigma * g / sqrt(384)), g ~ N(0, I).
  The noise vector has norm ~sigma (default ``--noise 1.0``), so a synthetic vector has cosine
  ~1/sqrt(1 + sigma^2) = 0.71 with its seed and ~0.5 with a sibling of the same seed, and a
  query's score against it is its score against the seed / sqrt(1 + sigma^2) plus noise of
  standard deviation ~sigma / sqrt(384 * (1 + sigma^2)) = 0.036. That is comparable to the
  gaps between a query's best seeds (on SQuAD questions the mean scores of the 1st, 2nd, 5th
  and 10th best seed are about 0.68, 0.59, 0.52, 0.48, i.e. 0.48, 0.42, 0.37, 0.34 after the
  0.71 scaling), so a query's exact top 10 mixes the copies of several seeds instead of
  being the copies of its best seed (the script reports how many distinct seeds it holds),
  and the noise spreads the points in all 384 dimensions, which graph indexes find harder
  than tight clusters.
* Queries: ``--queries`` SQuAD v1.1 dev questions (default 500), embedded with the real model.
* For comparison, a "real" set: the seed vectors themselves (10,000 real sentence
  embeddings, no noise), searched with the same queries. With the default 10,000 seeds the
  synthetic 10k set holds one noisy copy of every seed and the 100k set ten.

What is timed
-------------
Each index is built through the project's own write path: ``IndexWriter(dir, model_name=...,
dimension=384, spec=VectorIndexSpec(dimension=384, index_type="flat"|"hnsw"))`` as a context
manager, ``add_file(FileRecord, passages, vectors)`` in files of 1,000 passages
(``Passage(text=f"synthetic passage {i}")``), then ``commit()`` -- the build time covers the
SQLite inserts, the FAISS adds (the HNSW graph construction) and the fsync'd commit.
Then ``IndexStore.open(dir)``; the first search (which loads the FAISS file) is timed apart,
20 warm-up queries run, then every query is timed alone: ``store.search(vector, k=10)``, which
includes the SQLite fetch of the 10 rows the bot pays for, and raw FAISS
``store.passage_index.search(vector, 10)``. p50/p95 over the queries, in ms. Both loops run
again with FAISS limited to one OpenMP thread (``faiss.omp_set_num_threads(1)``; the default
is one thread per core), since single-query searches pay OpenMP start-up costs.
Recall@10 of HNSW = mean |top10_hnsw & top10_flat| / 10 over the queries (the default efSearch
64 of the index, and a sweep of efSearch on the raw FAISS index).

Run: ``.venv/bin/python benchmarks/bench_search.py`` (about 3 minutes on 2 CPU cores).
Result: ``benchmarks/results/bench_search.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import REPO, load_squad, percentile_ms, write_result

DIM = 384
PER_FILE = 1000
EF_SWEEP = (16, 32, 64, 128, 256)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Search latency (store.search and raw FAISS, p50/p95) for flat and HNSW "
        "indexes built with IndexWriter, and HNSW recall@10 against flat.",
    )
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                   default=[10_000, 100_000], help="comma-separated corpus sizes "
                   "(default 10000,100000)")
    p.add_argument("--seeds", type=int, default=10_000,
                   help="real SQuAD sentences embedded as seeds (default 10000)")
    p.add_argument("--queries", type=int, default=500,
                   help="SQuAD questions used as queries (default 500)")
    p.add_argument("--noise", type=float, default=1.0,
                   help="norm of the Gaussian noise added to a unit seed (default 1.0)")
    p.add_argument("--no-real", action="store_true",
                   help="skip the comparison row on the real seed embeddings")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return p.parse_args()


def squad_texts(articles: list[dict]) -> tuple[list[str], list[str]]:
    sentences, questions = [], []
    seen = set()
    for art in articles:
        for para in art["paragraphs"]:
            for s in _SENTENCE.split(para["context"].strip()):
                s = s.strip()
                if len(s) >= 20 and s not in seen:
                    seen.add(s)
                    sentences.append(s)
            questions += [qa["question"].strip() for qa in para["qas"]]
    return sentences, questions


def build_index(index_dir: Path, vectors, index_type: str) -> float:
    from indexer.documents import Passage
    from indexer.embedding import DEFAULT_MODEL_NAME
    from indexer.vectors import VectorIndexSpec
    from indexer.writer import FileRecord, IndexWriter

    started = time.perf_counter()
    spec = VectorIndexSpec(dimension=DIM, index_type=index_type)
    with IndexWriter(index_dir, model_name=DEFAULT_MODEL_NAME, dimension=DIM, spec=spec) as w:
        for f, at in enumerate(range(0, len(vectors), PER_FILE)):
            source = f"synthetic/{f:04d}.md"
            passages = []
            for i in range(at, min(at + PER_FILE, len(vectors))):
                text = f"synthetic passage {i}"
                passages.append(Passage(source=source, title=f"Synthetic {f}", text=text,
                                        start=0, end=len(text), n_tokens=4))
            record = FileRecord(source, hashlib.sha256(source.encode()).hexdigest(), 0)
            w.add_file(record, passages, vectors[at: at + len(passages)])
        w.commit()
    return time.perf_counter() - started


def time_search(index_dir: Path, queries, k: int = 10) -> dict:
    import numpy as np

    from indexer.store import IndexStore

    store = IndexStore.open(index_dir)
    t = time.perf_counter()
    store.search(queries[0], k=k)  # loads the FAISS file, checks it against SQLite
    first = time.perf_counter() - t
    for q in queries[:20]:
        store.search(q, k=k)
    index = store.passage_index
    store_times, faiss_times = [], []
    for q in queries:
        t = time.perf_counter()
        hits = store.search(q, k=k)
        store_times.append(time.perf_counter() - t)
        if len(hits) != k:
            sys.exit(f"error: store.search returned {len(hits)} hits, expected {k}")
    for q in queries[:20]:
        index.search(q[None, :], k)
    for q in queries:
        t = time.perf_counter()
        index.search(q[None, :], k)
        faiss_times.append(time.perf_counter() - t)
    # The same two loops with FAISS limited to one OpenMP thread (the default is one per core).
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    store1_times, faiss1_times = [], []
    try:
        for q in queries[:20]:
            store.search(q, k=k)
        for q in queries:
            t = time.perf_counter()
            store.search(q, k=k)
            store1_times.append(time.perf_counter() - t)
        for q in queries:
            t = time.perf_counter()
            index.search(q[None, :], k)
            faiss1_times.append(time.perf_counter() - t)
    finally:
        faiss.omp_set_num_threads(threads)
    scores, ids = index.search(queries, k)
    hits0 = store.search(queries[0], k=k)
    if [h.passage_id for h in hits0] != [int(i) for i in ids[0]]:
        sys.exit("error: store.search and raw FAISS disagree on the first query")
    texts0 = [h.text for h in hits0]
    store.close()
    return {
        "first_search_incl_load_ms": round(first * 1000, 1),
        "store_search_p50_ms": round(percentile_ms(store_times, 50), 3),
        "store_search_p95_ms": round(percentile_ms(store_times, 95), 3),
        "faiss_search_p50_ms": round(percentile_ms(faiss_times, 50), 3),
        "faiss_search_p95_ms": round(percentile_ms(faiss_times, 95), 3),
        "omp_threads": threads,
        "omp1_store_search_p50_ms": round(percentile_ms(store1_times, 50), 3),
        "omp1_store_search_p95_ms": round(percentile_ms(store1_times, 95), 3),
        "omp1_faiss_search_p50_ms": round(percentile_ms(faiss1_times, 50), 3),
        "omp1_faiss_search_p95_ms": round(percentile_ms(faiss1_times, 95), 3),
        "_ids": ids,
        "_scores": scores,
        "_index": index,
        "_texts0": texts0,
        "_mean_store_ms": float(np.mean(store_times) * 1000),
    }


def recall(a, b) -> float:
    return sum(len(set(x.tolist()) & set(y.tolist())) for x, y in zip(a, b)) / a.size


def run_size(root: Path, name: str, vectors, seed_of, queries) -> dict:
    import faiss
    import numpy as np

    row = {"name": name, "passages": len(vectors)}
    out = {}
    for kind in ("flat", "hnsw"):
        index_dir = root / f"{name}-{kind}"
        t_build = build_index(index_dir, vectors, kind)
        size = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
        res = time_search(index_dir, queries)
        res["build_s"] = round(t_build, 2)
        res["bytes_on_disk"] = size
        out[kind] = res
        print(f"  {name:>12} {kind:4}: build {t_build:6.1f} s | store.search p50 "
              f"{res['store_search_p50_ms']:.2f} ms p95 {res['store_search_p95_ms']:.2f} ms | "
              f"faiss p50 {res['faiss_search_p50_ms']:.3f} ms p95 "
              f"{res['faiss_search_p95_ms']:.3f} ms | 1 OpenMP thread: store p50 "
              f"{res['omp1_store_search_p50_ms']:.2f} ms, faiss p50 "
              f"{res['omp1_faiss_search_p50_ms']:.3f} ms")
    flat_ids, hnsw_ids = out["flat"]["_ids"], out["hnsw"]["_ids"]
    if out["flat"]["_texts0"][0] != f"synthetic passage {int(flat_ids[0][0]) - 1}":
        print("warning: row ids do not map to insertion order as assumed")
    row["hnsw_recall_at_10"] = round(recall(hnsw_ids, flat_ids), 4)
    base = faiss.downcast_index(out["hnsw"]["_index"].index)
    sweep = []
    for ef in EF_SWEEP:
        base.hnsw.efSearch = ef
        times = []
        for q in queries:
            t = time.perf_counter()
            out["hnsw"]["_index"].search(q[None, :], 10)
            times.append(time.perf_counter() - t)
        _, ids = out["hnsw"]["_index"].search(queries, 10)
        sweep.append({"ef_search": ef, "recall_at_10": round(recall(ids, flat_ids), 4),
                      "faiss_p50_ms": round(percentile_ms(times, 50), 3),
                      "faiss_p95_ms": round(percentile_ms(times, 95), 3)})
    row["hnsw_ef_sweep"] = sweep
    # How non-trivial is the neighbour structure? (ids are row ids 1..N in insertion order)
    if seed_of is not None:
        top_seeds = seed_of[flat_ids - 1]
        row["flat_top10_distinct_seeds_mean"] = round(
            float(np.mean([len(set(r.tolist())) for r in top_seeds])), 2)
    sc = out["flat"]["_scores"]
    row["flat_top1_score_mean"] = round(float(sc[:, 0].mean()), 4)
    row["flat_top10_score_mean"] = round(float(sc[:, -1].mean()), 4)
    for kind in ("flat", "hnsw"):
        row[kind] = {k: v for k, v in out[kind].items() if not k.startswith("_")}
    print(f"  {name:>12} HNSW recall@10 vs flat: {row['hnsw_recall_at_10']:.4f} (efSearch 64)"
          + (f"; flat top-10 spans {row['flat_top10_distinct_seeds_mean']} seeds on average"
             if seed_of is not None else ""))
    for kind in ("flat", "hnsw"):
        shutil.rmtree(root / f"{name}-{kind}", ignore_errors=True)
    return row


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    articles = load_squad()

    import numpy as np
    from sentence_transformers import SentenceTransformer

    from indexer.embedding import default_model_path

    sentences, questions = squad_texts(articles)
    rng = np.random.default_rng(args.seed)
    if args.seeds > len(sentences):
        sys.exit(f"error: --seeds {args.seeds} > {len(sentences)} SQuAD dev sentences")
    seed_texts = [sentences[i] for i in sorted(rng.choice(len(sentences), args.seeds,
                                                          replace=False))]
    query_texts = [questions[i] for i in rng.choice(len(questions), args.queries, replace=False)]

    model = SentenceTransformer(str(default_model_path()), device="cpu")
    t = time.perf_counter()
    seeds = model.encode(seed_texts, normalize_embeddings=True, convert_to_numpy=True)
    queries = model.encode(query_texts, normalize_embeddings=True, convert_to_numpy=True)
    t_embed = time.perf_counter() - t
    seeds = np.ascontiguousarray(seeds, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    print(f"embedded {len(seeds)} seed sentences and {len(queries)} questions in {t_embed:.0f} s")

    # Seed-level reference: a query's best real seed scores, for reading the noise level.
    seed_scores = np.sort(queries @ seeds.T, axis=1)[:, ::-1]
    seed_ref = {f"query_top{k}_seed_score_mean": round(float(seed_scores[:, k - 1].mean()), 4)
                for k in (1, 2, 5, 10)}

    tmp = tempfile.TemporaryDirectory(prefix="qabot-bench-search-")
    root = Path(tmp.name)
    rows = []
    if not args.no_real:
        print(f"real seed embeddings ({len(seeds)}):")
        rows.append(run_size(root, f"real-{len(seeds) // 1000}k", seeds, None, queries))
    for n in args.sizes:
        seed_of = np.arange(n) % len(seeds)
        g = rng.standard_normal((n, DIM), dtype=np.float32)
        vectors = seeds[seed_of] + (args.noise / np.sqrt(DIM)) * g
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        del g
        own = float(np.mean(np.sum(vectors * seeds[seed_of], axis=1)))
        print(f"synthetic {n} (cosine to own seed {own:.3f}):")
        row = run_size(root, f"synthetic-{n // 1000}k", vectors, seed_of, queries)
        row["cosine_to_own_seed_mean"] = round(own, 4)
        rows.append(row)
        del vectors

    result = {
        "seeds": len(seeds),
        "queries": len(queries),
        "noise_norm": args.noise,
        "passages_per_file": PER_FILE,
        "hnsw": {"M": 32, "ef_construction": 80, "ef_search": 64},
        "embed_seeds_and_queries_s": round(t_embed, 1),
        "seed_reference": seed_ref,
        "rows": rows,
    }
    path = write_result("bench_search", result, started)

    print()
    print(f"== Search latency, k=10, {len(queries)} queries (ms) ==")
    print(f"  {'corpus':>15} {'type':4} {'build s':>8} {'store p50':>9} {'store p95':>9} "
          f"{'faiss p50':>9} {'faiss p95':>9} {'recall@10':>9} {'1thr store p50':>14}")
    for row in rows:
        for kind in ("flat", "hnsw"):
            r = row[kind]
            rec = f"{row['hnsw_recall_at_10']:.4f}" if kind == "hnsw" else "1 (ref)"
            print(f"  {row['name']:>15} {kind:4} {r['build_s']:8.1f} "
                  f"{r['store_search_p50_ms']:9.2f} {r['store_search_p95_ms']:9.2f} "
                  f"{r['faiss_search_p50_ms']:9.3f} {r['faiss_search_p95_ms']:9.3f} {rec:>9} "
                  f"{r['omp1_store_search_p50_ms']:14.2f}")
    print(f"  total run time {time.perf_counter() - started:.0f} s; result "
          f"{path.relative_to(REPO)}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Indexing throughput against raw sentence-transformers encoding, and the unchanged rebuild.

What it measures
----------------
Corpus: the first ``--articles`` articles of the SQuAD v1.1 dev set
(``../shared/data/squad/v1.1/dev-v1.1.json``), written to a temporary knowledge-base folder as
one Markdown file per article: a ``# Title`` heading, then the article's paragraphs
("context" fields) separated by blank lines. The default (18 articles, 865 paragraphs) gives
1,045 passages with the default chunking (160/32 tokens).

1. Full build, in process: ``indexer.sync.build(kb, fresh_index_dir, embedder)`` with a
   ``SentenceTransformerEmbedder`` that was warmed up first (``warm_up()``), so the model load
   is not timed. Throughput = passages indexed / build seconds. The build includes hashing,
   loading, chunking, embedding, SQLite inserts, FAISS adds and the fsync'd commit.
2. Baseline, same process, same run: ``SentenceTransformer(default_model_path()).encode`` with
   ``normalize_embeddings=True`` on exactly the texts the index embeds (re-chunked with
   ``load_file`` + ``chunk_documents`` and ``Passage.embedding_text``), once with the library's
   default batch size (32, also the embedder's) and once with batch 64. One untimed
   full encode runs first as warm-up. Build and both encodes are interleaved and repeated
   ``--repeats`` times; the best time of each is reported. ``--extra-batch-sizes`` (default
   16,128) are encoded once each afterwards, to show how the batch size alone moves the
   baseline. Ratio = build passages/s divided by
   encode passages/s (target >= 0.9). As a check that both sides embed the same texts, the
   vectors stored in the index are compared with the baseline's.
3. Where the build time goes: scan (hashing), load + chunk, and write (SQLite + FAISS +
   commit, with precomputed vectors) are each timed separately; embed = the baseline
   default-batch encode.
4. Unchanged rebuild: a second ``build`` of the unchanged corpus into the same index, in
   process (median of 3); and the CLI end to end (``.venv/bin/qabot-index build KB --index DIR
   --no-progress`` in a subprocess, wall clock): first build into a fresh folder, then the
   unchanged rebuild. Ratios = full / unchanged (target >= 50x).

Run: ``.venv/bin/python benchmarks/bench_indexing.py`` (about 6-7 minutes on 2 CPU cores).
Result: ``benchmarks/results/bench_indexing.json``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import REPO, load_squad, write_result


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Indexing throughput (build vs raw SentenceTransformer.encode) and "
        "unchanged-rebuild time, on SQuAD v1.1 dev paragraphs.",
    )
    p.add_argument("--articles", type=int, default=18,
                   help="number of SQuAD dev articles to index (default 18 = 1,045 passages; "
                   "48 = all)")
    p.add_argument("--repeats", type=int, default=2,
                   help="timed repetitions of build and each encode; best is reported "
                   "(default 2)")
    p.add_argument("--extra-batch-sizes", default="16,128",
                   help="comma-separated batch sizes encoded once more for comparison "
                   "('' for none; default 16,128)")
    p.add_argument("--no-cli", action="store_true", help="skip the subprocess CLI timings")
    return p.parse_args()


def write_corpus(articles: list[dict], kb: Path) -> int:
    kb.mkdir(parents=True)
    n_paragraphs = 0
    for i, art in enumerate(articles):
        title = art["title"].replace("_", " ")
        paragraphs = [p["context"].strip() for p in art["paragraphs"]]
        n_paragraphs += len(paragraphs)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()
        text = f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n"
        (kb / f"{i:02d}-{slug}.md").write_text(text, encoding="utf-8")
    return n_paragraphs


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    articles = load_squad()
    if not 1 <= args.articles <= len(articles):
        sys.exit(f"error: --articles must be between 1 and {len(articles)}")

    import numpy as np
    from sentence_transformers import SentenceTransformer

    from indexer.chunking import ChunkSettings, chunk_documents
    from indexer.embedding import SentenceTransformerEmbedder, default_model_path
    from indexer.loaders import discover, load_file, source_name
    from indexer.store import IndexStore
    from indexer.sync import build, scan
    from indexer.vectors import VectorIndexSpec, all_vectors
    from indexer.writer import IndexWriter

    tmp = tempfile.TemporaryDirectory(prefix="qabot-bench-indexing-")
    root = Path(tmp.name)
    kb = root / "kb"
    n_paragraphs = write_corpus(articles[: args.articles], kb)
    settings = ChunkSettings()

    embedder = SentenceTransformerEmbedder()
    t_load, _ = timed(embedder.warm_up)
    print(f"corpus: {args.articles} articles, {n_paragraphs} paragraphs -> {kb}")
    print(f"embedder model load (excluded from the build timing): {t_load:.1f} s")

    # The texts the index embeds, in build order (sources sorted, passages in file order).
    def load_and_chunk():
        out = []
        files = sorted((source_name(p, kb), p) for p in discover(kb)[0])
        for source, path in files:
            result = load_file(path, source)
            out.append((source, chunk_documents(result.documents, embedder.token_spans,
                                                settings)))
        return out

    embedder.token_spans("warm up the tokenizer")
    per_file = load_and_chunk()
    texts = [p.embedding_text for _, ps in per_file for p in ps]
    n_passages = len(texts)
    print(f"passages: {n_passages} (chunking {settings.max_tokens}/{settings.overlap_tokens})")

    model = SentenceTransformer(str(default_model_path()), device="cpu")

    def encode(batch_size: int | None):
        kw = {} if batch_size is None else {"batch_size": batch_size}
        return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, **kw)

    t_warm, _ = timed(lambda: encode(None))
    print(f"baseline warm-up encode (untimed in the figures): {t_warm:.1f} s")

    builds, enc_default, enc_64 = [], [], []
    reports = []
    baseline_vectors = None
    for r in range(args.repeats):
        index_dir = root / f"index-{r}"
        t, report = timed(lambda d=index_dir: build(kb, d, embedder))
        builds.append(t)
        reports.append(report)
        print(f"[{r + 1}/{args.repeats}] build: {t:.2f} s ({report.passages_added} passages, "
              f"{report.passages_added / t:.1f}/s)")
        t, baseline_vectors = timed(lambda: encode(None))
        enc_default.append(t)
        print(f"[{r + 1}/{args.repeats}] encode (default batch 32): {t:.2f} s "
              f"({n_passages / t:.1f}/s)")
        t, _ = timed(lambda: encode(64))
        enc_64.append(t)
        print(f"[{r + 1}/{args.repeats}] encode (batch 64): {t:.2f} s ({n_passages / t:.1f}/s)")

    extra = {}
    for bs in [int(x) for x in args.extra_batch_sizes.split(",") if x.strip()]:
        t, _ = timed(lambda b=bs: encode(b))
        extra[str(bs)] = {"seconds": round(t, 3), "passages_per_s": round(n_passages / t, 2)}
        print(f"encode (batch {bs}, single run): {t:.2f} s ({n_passages / t:.1f}/s)")

    indexed = reports[0].passages_added
    if indexed != n_passages:
        print(f"warning: build indexed {indexed} passages, re-chunking gives {n_passages}")

    # Same texts on both sides? Compare the stored vectors with the baseline's.
    with IndexStore.open(root / "index-0") as store:
        ids, stored = all_vectors(store.passage_index)
        order = np.argsort(ids)
        stored = stored[order]
    same_shape = stored.shape == baseline_vectors.shape
    max_abs_diff = float(np.abs(stored - baseline_vectors).max()) if same_shape else None
    min_cos = float((stored * baseline_vectors).sum(1).min()) if same_shape else None
    print(f"stored vs baseline vectors: max |diff| {max_abs_diff}, min cosine {min_cos}")

    # Where the build time goes (each step timed on its own).
    t_scan, _ = timed(lambda: scan(kb))
    t_chunk, _ = timed(load_and_chunk)
    vec_at = 0
    write_dir = root / "index-write-only"

    def write_only():
        nonlocal vec_at
        from indexer.sync import hash_file
        from indexer.writer import FileRecord

        vec_at = 0
        spec = VectorIndexSpec(dimension=embedder.dimension)
        with IndexWriter(write_dir, model_name=embedder.model_name,
                         dimension=embedder.dimension, spec=spec) as w:
            for source, ps in per_file:
                h = hash_file(kb / source)
                w.add_file(FileRecord(source, h.sha256, h.size), ps,
                           baseline_vectors[vec_at: vec_at + len(ps)])
                vec_at += len(ps)
            w.commit()

    t_write, _ = timed(write_only)
    best_build = min(builds)
    breakdown = {
        "scan_hash_s": round(t_scan, 3),
        "load_and_chunk_s": round(t_chunk, 3),
        "embed_s (baseline default batch, best)": round(min(enc_default), 3),
        "write_sqlite_faiss_commit_s": round(t_write, 3),
    }
    breakdown["sum_s"] = round(t_scan + t_chunk + min(enc_default) + t_write, 3)
    breakdown["build_best_s"] = round(best_build, 3)
    print("breakdown: " + ", ".join(f"{k} {v}" for k, v in breakdown.items()))

    # Unchanged rebuild, in process.
    unchanged = []
    for _ in range(3):
        t, rep = timed(lambda: build(kb, root / "index-0", embedder))
        if rep.plan.has_changes or rep.embedded:
            print("warning: the unchanged rebuild planned changes or embedded texts")
        unchanged.append(t)
    unchanged_med = statistics.median(unchanged)
    print(f"unchanged rebuild (in process): median {unchanged_med * 1000:.1f} ms of "
          f"{[round(u * 1000, 1) for u in unchanged]}")

    cli = None
    if not args.no_cli:
        exe = REPO / ".venv" / "bin" / "qabot-index"
        cli_index = root / "index-cli"
        cmd = [str(exe), "build", str(kb), "--index", str(cli_index), "--no-progress"]

        def run_cli():
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            dt = time.perf_counter() - t
            if proc.returncode != 0:
                sys.exit(f"error: qabot-index failed ({proc.returncode}):\n{proc.stderr}")
            return dt

        t_first = run_cli()
        t_second = [run_cli() for _ in range(2)]
        cli = {
            "command": "qabot-index build KB --index DIR --no-progress",
            "first_build_s": round(t_first, 2),
            "unchanged_rebuild_s": [round(t, 3) for t in t_second],
            "ratio_first_over_unchanged": round(t_first / min(t_second), 1),
        }
        print(f"CLI: first build {t_first:.1f} s, unchanged rebuild "
              f"{min(t_second):.2f} s -> {t_first / min(t_second):.0f}x")

    build_ps = indexed / best_build
    enc_def_ps = n_passages / min(enc_default)
    enc_64_ps = n_passages / min(enc_64)
    result = {
        "corpus": {
            "source": "SQuAD v1.1 dev, first N articles, one .md per article",
            "articles": args.articles,
            "paragraphs": n_paragraphs,
            "passages": n_passages,
            "chunking": f"{settings.max_tokens}/{settings.overlap_tokens}",
            "embedding_text_chars_mean": round(sum(map(len, texts)) / n_passages, 1),
        },
        "repeats": args.repeats,
        "model_load_s": round(t_load, 2),
        "build_s": [round(t, 3) for t in builds],
        "encode_default_batch_s": [round(t, 3) for t in enc_default],
        "encode_batch64_s": [round(t, 3) for t in enc_64],
        "build_passages_per_s": round(build_ps, 2),
        "encode_default_batch_passages_per_s": round(enc_def_ps, 2),
        "encode_batch64_passages_per_s": round(enc_64_ps, 2),
        "ratio_vs_encode_default_batch": round(build_ps / enc_def_ps, 3),
        "ratio_vs_encode_batch64": round(build_ps / enc_64_ps, 3),
        "ratio_target": 0.9,
        "encode_extra_batch_sizes_single_run": extra,
        "vectors_check": {"max_abs_diff": max_abs_diff, "min_cosine": min_cos},
        "breakdown": breakdown,
        "unchanged_rebuild_in_process_s": [round(t, 4) for t in unchanged],
        "ratio_build_over_unchanged_in_process": round(best_build / unchanged_med, 1),
        "cli": cli,
        "rebuild_ratio_target": 50,
    }
    path = write_result("bench_indexing", result, started)

    print()
    print(f"== Indexing throughput ({n_passages} passages, {args.articles} articles) ==")
    print(f"  build (warm embedder)      {build_ps:7.1f} passages/s  (best of {args.repeats})")
    print(f"  encode, default batch 32   {enc_def_ps:7.1f} passages/s")
    print(f"  encode, batch 64           {enc_64_ps:7.1f} passages/s")
    print(f"  ratio build/encode         {build_ps / enc_def_ps:.3f} (batch 32), "
          f"{build_ps / enc_64_ps:.3f} (batch 64); target >= 0.9")
    for bs, e in extra.items():
        print(f"  encode, batch {bs:<4} (1 run) {e['passages_per_s']:7.1f} passages/s")
    print(f"  unchanged rebuild          {unchanged_med * 1000:.1f} ms in process -> "
          f"{best_build / unchanged_med:.0f}x faster than the full build")
    if cli:
        print(f"  CLI end to end             first {cli['first_build_s']} s, unchanged "
              f"{min(cli['unchanged_rebuild_s'])} s -> {cli['ratio_first_over_unchanged']}x "
              f"(target >= 50x)")
    print(f"  total run time             {time.perf_counter() - started:.0f} s")
    print(f"  result                     {path.relative_to(REPO)}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tune the reader's retriever-score fusion weight on the SQuAD v1.1 eval split (BERTserini).

The eval articles' paragraphs become a knowledge base (one .txt file per paragraph, indexed
with the real indexer and all-MiniLM-L6-v2, passages up to 254 tokens so a paragraph is
usually one passage). For each question the top-5 passages are retrieved and read once; the
answer is then decoded for each fusion weight w (answer score = span score + w x retriever
cosine), and end-to-end EM/F1 (always answering) is reported per weight, with the retriever's
recall@5 (a retrieved passage contains a gold answer) as the ceiling.

Run: ``.venv/bin/python benchmarks/bench_fusion.py [--limit N]``.
Result: ``benchmarks/results/bench_fusion.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import DATA, REPO, require, write_result

WEIGHTS = [0.0, 4.0, 8.0, 16.0, 32.0, 48.0, 64.0, 96.0, 128.0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--limit", type=int, default=None, help="questions (default: all 1,877)")
    p.add_argument("-k", type=int, default=5, help="passages per question")
    args = p.parse_args()
    started = time.perf_counter()
    from indexer.chunking import ChunkSettings
    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.store import IndexStore
    from indexer.sync import build
    from qabot.reader.model import Reader
    from qabot.training.squad import load_squad, read_title_list
    from qabot.training.squad_metrics import squad_scores

    squad = DATA / "squad"
    titles = read_title_list(str(require(squad / "splits.json", "splits.json")) + ":eval_titles")
    examples = load_squad(require(squad / "v1.1" / "dev-v1.1.json", "SQuAD v1.1 dev"), titles)
    examples = examples[: args.limit] if args.limit else examples
    golds = {e.id: [a.text for a in e.answers] for e in examples}

    tmp = tempfile.TemporaryDirectory(prefix="qabot-bench-fusion-")
    kb = Path(tmp.name) / "kb"
    kb.mkdir()
    contexts = sorted({e.context for e in load_squad(squad / "v1.1" / "dev-v1.1.json", titles)})
    for i, context in enumerate(contexts):
        (kb / f"p{i:04d}.txt").write_text(context, encoding="utf-8")
    embedder = SentenceTransformerEmbedder()
    build(kb, Path(tmp.name) / "index", embedder, chunking=ChunkSettings(254, 32))
    store = IndexStore.open(Path(tmp.name) / "index")
    vectors = embedder.embed([e.question for e in examples])
    print(f"indexed {len(contexts)} paragraphs ({store.manifest.passages} passages)")

    reader = Reader()
    reader.warm_up()
    base = reader.settings
    preds = {w: {} for w in WEIGHTS}
    recall = 0
    for e, vector in zip(examples, vectors):
        hits = store.search(vector, args.k)
        recall += any(any(g in h.text for g in golds[e.id]) for h in hits)
        windows = reader.windows(e.question, hits)
        starts, ends = reader.logits(windows)
        for w in WEIGHTS:
            reader.settings = replace(base, retriever_weight=w)
            res = reader.decode(e.question, hits, windows, starts, ends, top_k=1)
            preds[w][e.id] = res.answers[0].text if res.answers else ""
        reader.settings = base
    rows = []
    for w in WEIGHTS:
        s = squad_scores(preds[w], golds)
        rows.append({"weight": w, "exact": round(s["exact"], 2), "f1": round(s["f1"], 2)})
        print(f"weight {w:5.1f}: EM {s['exact']:.2f} F1 {s['f1']:.2f}")
    best = max(rows, key=lambda r: r["f1"])
    result = {"questions": len(examples), "paragraphs": len(contexts), "k": args.k,
              "retriever_recall_at_k": round(100 * recall / len(examples), 2),
              "weights": rows, "best": best}
    path = write_result("bench_fusion", result, started)
    print(f"recall@{args.k} {result['retriever_recall_at_k']}; best weight {best['weight']} "
          f"(F1 {best['f1']}); result {path.relative_to(REPO)}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

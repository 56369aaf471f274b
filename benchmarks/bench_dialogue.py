"""The whole bot on the example knowledge base: golden conversations and reply latency.

1. Golden conversations (``tests/data/golden_conversations.yaml``, written for examples/kb):
   the pass rate of the engine with the shipped models and default settings, by expected kind,
   and every failure.
2. Latency of ``ChatEngine.respond`` for knowledge questions (the golden set's standalone
   knowledge questions; 5 passages + 2 FAQ answers read): p50/p95 with each reader precision,
   against the baseline of the same components called bare (embed, search, read 5 passages),
   measured in the same run.

``--grid`` also runs the golden set over FAQ x answer confidences around the shipped operating
points (which were chosen on validation data, not here): how sensitive the pass rate is.

Run: ``.venv/bin/python benchmarks/bench_dialogue.py [--grid]`` (about 4 minutes on 2 cores,
10 more with ``--grid``).
Result: ``benchmarks/results/bench_dialogue.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
import numpy as np
from _common import REPO, write_result

GOLDEN = REPO / "tests" / "data" / "golden_conversations.yaml"
KB = REPO / "examples" / "kb"


def percentiles(ms: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "mean_ms": round(float(np.mean(ms)), 1), "n": len(ms)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="passes over the latency questions")
    p.add_argument("--grid", action="store_true",
                   help="also run the golden set over a grid of FAQ and answer confidences "
                   "(about 6 more minutes)")
    args = p.parse_args()
    started = time.perf_counter()

    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.app import build_engine
    from qabot.config import load_settings
    from qabot.evaluation.conversations import load_golden, run_golden, summarize

    work = Path(tempfile.mkdtemp(prefix="qabot-bench-"))
    embedder = SentenceTransformerEmbedder()
    build(KB, work / "index", embedder)
    golden = load_golden(GOLDEN)
    result: dict = {}

    settings = load_settings(env={}, index_dir=work / "index",
                             database_url=f"sqlite:///{work / 'golden.sqlite'}")
    engine = build_engine(settings, warm=True)
    summary = summarize(run_golden(engine, golden))
    result["golden"] = {"settings": {"faq_confidence": engine.faq_confidence,
                                     "answer_confidence": engine.answer_confidence,
                                     "top_k": settings.top_k},
                        "reader_precision": engine.reader.precision, **summary}
    print(f"golden conversations: {summary['passed']}/{summary['turns']} turns pass "
          f"({summary['pass_rate']:.1%}); follow-ups {summary['follow_up_pass_rate']:.1%}",
          flush=True)

    if args.grid:
        grid = []
        for faq_confidence in (0.3, 0.5, 0.7, 0.9):
            for answer_confidence in (0.2, 0.35, 0.5, 0.65):
                settings = load_settings(
                    env={}, index_dir=work / "index", faq_confidence=faq_confidence,
                    answer_confidence=answer_confidence,
                    database_url=f"sqlite:///{work / f'grid-{len(grid)}.sqlite'}")
                s = summarize(run_golden(build_engine(settings, warm=True), golden))
                grid.append({"faq_confidence": faq_confidence,
                             "answer_confidence": answer_confidence,
                             "pass_rate": s["pass_rate"], "passed": s["passed"]})
                print(grid[-1], flush=True)
        result["threshold_grid"] = grid

    questions = [t.user for c in golden for t in c.turns
                 if not t.follow_up and set(t.kinds) & {"answer", "faq"}]
    latency = {}
    for precision in ("auto", "fp32", "bf16", "int8"):
        settings = load_settings(env={}, index_dir=work / "index", reader_precision=precision,
                                 database_url=f"sqlite:///{work / f'latency-{precision}.sqlite'}")
        engine = build_engine(settings, warm=True)
        for q in questions[:3]:  # warm caches
            engine.respond(engine.start("bench", "warm"), q)
        respond_ms, bare_ms, kinds = [], [], {}
        for _ in range(args.repeats):
            for q in questions:
                conv = engine.start("bench", f"user-{len(respond_ms)}")
                reply = engine.respond(conv, q)
                respond_ms.append(reply.latency_ms)
                kinds[reply.kind] = kinds.get(reply.kind, 0) + 1
                t0 = time.perf_counter()
                hits = engine.retriever.search(q, settings.top_k)  # embeds, bot's mode
                engine.reader.read(q, hits, top_k=3)
                bare_ms.append((time.perf_counter() - t0) * 1000)
        latency[precision] = {"reader_precision": engine.reader.precision,
                              "respond": percentiles(respond_ms),
                              "bare_embed_search_read": percentiles(bare_ms),
                              "reply_kinds": kinds}
        print(precision, engine.reader.precision, latency[precision]["respond"],
              "bare:", latency[precision]["bare_embed_search_read"], flush=True)
    result["latency"] = {"questions": len(questions), "repeats": args.repeats, **latency}
    path = write_result("bench_dialogue", result, started)
    print(f"total {time.perf_counter() - started:.0f} s; result {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

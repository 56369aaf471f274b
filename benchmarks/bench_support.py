"""The support evaluation: the whole bot as a user gets it, on a real help centre, against the
bot before the answer-confidence work, both measured in the same run.

1. ``zulip_help`` (Zulip's help centre, 213 articles, ``content_rendered/``) and its
   ``dev_questions.json`` (80 answerable questions, 20 unanswerable): ``qabot eval support``'s
   figures (correct / wrong / abstained, unanswerable abstained, source@1/@5, precision,
   coverage, ``respond`` p50/p95) for
   - ``now``: this checkout with its default settings (the shipped confidence model);
   - ``before``: the bot at git revision ``--baseline-rev`` (default ec4a45f: the reader's
     null threshold and the fused-score answer threshold of 15), run from a git worktree in a
     subprocess with its own indexer and index, on the same questions.
   This is the development set of the work: no weight or threshold was fitted on it (the
   confidence model learned on SQuAD train and COVID-QA), but design choices were looked at
   against it, so these are development figures.
2. Out-of-scope routing: 200 of CLINC150's out-of-scope test queries (seeded sample; off-topic
   for any help centre) through each bot on the same knowledge base: how many are answered,
   refused as out of scope, or get the honest fallback; and how many of the 80 answerable
   questions each bot refuses as out of scope.

3. The relevance rule behind KB-aware routing (``dialogue.confidence.relevant``: a retrieved
   passage at least 0.35 similar that shares a word with the message): the share of those
   CLINC150 queries it calls relevant on the zulip help centre and on ``examples/kb`` (a
   router-out-of-scope message it calls relevant gets the honest fallback instead of the
   refusal), and the share of the 80 answerable zulip questions it calls relevant.

Run: ``.venv/bin/python benchmarks/bench_support.py`` (about 10 minutes on 2 cores).
Result: ``benchmarks/results/bench_support.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import DATA, REPO, RESULTS, require, write_result

ZULIP = DATA / "zulip_help"
CLINC = DATA / "clinc150" / "data_full.json"

# runs inside the baseline's worktree (its own qabot on sys.path): index, then answer every
# message of a JSON list in a fresh conversation, one JSON line per reply
BASELINE = r"""
import json, sys, tempfile
from pathlib import Path
from indexer.embedding import SentenceTransformerEmbedder
from indexer.sync import build
from qabot.app import build_engine
from qabot.config import load_settings

kb, index = Path(sys.argv[1]), Path(sys.argv[2])
messages = json.loads(Path(sys.argv[3]).read_text())
build(kb, index, SentenceTransformerEmbedder(), progress=False)
with tempfile.TemporaryDirectory() as tmp:
    engine = build_engine(load_settings(env={}, index_dir=index,
                                        database_url=f"sqlite:///{tmp}/h.sqlite"), warm=True)
    for i, text in enumerate(messages):
        r = engine.respond(engine.start("bench", f"m{i}"), text)
        print(json.dumps({"kind": r.kind, "text": r.text, "score": r.score,
                          "sources": [s.source for s in r.sources],
                          "latency_ms": r.latency_ms}), flush=True)
"""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--baseline-rev", default="ec4a45f")
    p.add_argument("--off-topic", type=int, default=200, help="CLINC150 oos queries asked")
    p.add_argument("--retrieval-only", action="store_true",
                   help="only (re)measure the retrieval's source@k and keep the rest of the "
                   "last result")
    return p.parse_args()


def off_topic_queries(n: int) -> list[str]:
    data = json.loads(require(CLINC, "CLINC150 (clinc150/data_full.json)").read_text())
    return random.Random(13).sample([text for text, _ in data["oos_test"]], n)


def stale(index: Path, embedder) -> bool:
    """A cached index built with another embedding model (an older qabot's) is rebuilt."""
    from indexer.manifest import read_manifest

    return (index / "manifest.json").is_file() and (
        read_manifest(index).model_name != embedder.model_name)


def run_now(questions, off_topic: list[str]) -> tuple[list, list]:
    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.app import build_engine
    from qabot.config import load_settings
    from qabot.evaluation.support import run_support_eval

    index = REPO / ".qabot" / "bench" / "zulip-index"
    embedder = SentenceTransformerEmbedder()
    build(ZULIP / "content_rendered", index, embedder, rebuild=stale(index, embedder),
          progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(load_settings(env={}, index_dir=index,
                                            database_url=f"sqlite:///{tmp}/h.sqlite"),
                              warm=True)
        results = run_support_eval(engine, questions)
        kinds = [engine.respond(engine.start("bench", f"o{i}"), text).kind
                 for i, text in enumerate(off_topic)]
        engine.history.close()
    return results, kinds


def run_before(rev: str, questions, off_topic: list[str]) -> tuple[list, list]:
    from qabot.evaluation.support import SupportResult, score_reply

    worktree = REPO / ".qabot" / "bench" / f"worktree-{rev}"
    if not worktree.is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), rev], cwd=REPO,
                       check=True, capture_output=True)
    messages = [q.text for q in questions] + off_topic
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "messages.json").write_text(json.dumps(messages))
        out = subprocess.run(
            [sys.executable, "-c", BASELINE, str(ZULIP / "content_rendered"),
             str(REPO / ".qabot" / "bench" / f"zulip-index-{rev}"),
             str(Path(tmp) / "messages.json")],
            cwd=worktree, env={**_env(), "PYTHONPATH": str(worktree)}, check=True,
            capture_output=True, text=True).stdout
    replies = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    results = []
    for q, r in zip(questions, replies):
        reply = SimpleNamespace(kind=r["kind"], text=r["text"], score=r["score"],
                                candidate=None,
                                sources=[SimpleNamespace(source=s) for s in r["sources"]])
        results.append(SupportResult(q, r["kind"], score_reply(q, reply), r["latency_ms"],
                                     tuple(r["sources"]), r["text"], None))
    return results, [r["kind"] for r in replies[len(questions):]]


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def summary_of(results, off_kinds: list[str]) -> dict:
    from qabot.evaluation.support import result_row, summarize

    s = summarize(results)
    s.pop("curve")
    s["answerable_refused_out_of_scope"] = sum(r.kind == "out_of_scope" for r in results
                                               if r.question.answerable)
    s["off_topic"] = {"queries": len(off_kinds), "kinds": dict(Counter(off_kinds)),
                      "answered": sum(k in ("answer", "faq") for k in off_kinds),
                      "refused_out_of_scope": off_kinds.count("out_of_scope")}
    s["rows"] = [result_row(r) for r in results]
    return s


def relevance(questions, off_topic: list[str]) -> dict:
    """Share of messages the relevance rule calls relevant, per knowledge base."""
    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.dialogue.confidence import RELEVANT_SIMILARITY, relevant
    from qabot.retrieval import Retriever

    embedder = SentenceTransformerEmbedder()
    example = REPO / ".qabot" / "bench" / "example-index"
    build(REPO / "examples" / "kb", example, embedder, rebuild=stale(example, embedder),
          progress=False)
    out = {"min_similarity": RELEVANT_SIMILARITY}
    for name, index in (("zulip", REPO / ".qabot" / "bench" / "zulip-index"),
                        ("example_kb", example)):
        retriever = Retriever(index, embedder, mode="hybrid")
        share = sum(relevant(t, retriever.search(t, 5)) for t in off_topic) / len(off_topic)
        out[f"off_topic_relevant_{name}"] = round(share, 4)
        if name == "zulip":
            asked = [q.text for q in questions if q.answerable]
            out["zulip_answerable_relevant"] = round(
                sum(relevant(t, retriever.search(t, 5)) for t in asked) / len(asked), 4)
    return out


def retrieval_at_k(questions, rev: str) -> dict:
    """Where the hybrid retrieval (top 5, as the reader gets it) ranks each answerable
    question's article: in the index ``run_now`` built and in the baseline's (its embedding
    model, read by today's retriever)."""
    from qabot.retrieval import Retriever

    out = {}
    for who, index in (("now", REPO / ".qabot" / "bench" / "zulip-index"),
                       ("before", REPO / ".qabot" / "bench" / f"zulip-index-{rev}")):
        retriever = Retriever(index, mode="hybrid")
        ranks = []
        for q in (q for q in questions if q.answerable):
            stems = [Path(h.source).stem for h in retriever.search(q.text, 5)]
            ranks.append(stems.index(q.article) + 1 if q.article in stems else None)
        out[who] = {"model": retriever.embedder.model_name, "questions": len(ranks),
                    "source_at_1": sum(r == 1 for r in ranks),
                    "source_at_5": sum(r is not None for r in ranks)}
    return out


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    from qabot.evaluation.support import load_questions

    questions = load_questions(require(ZULIP / "dev_questions.json", "dev_questions.json"))
    if args.retrieval_only:
        previous = json.loads((RESULTS / "bench_support.json").read_text())
        result = {k: v for k, v in previous.items()
                  if k not in ("benchmark", "date", "command", "machine", "total_run_seconds")}
        result["support_measured"] = {"date": previous["date"], "command": previous["command"]}
        result["retrieval"] = retrieval_at_k(questions, result["baseline_rev"])
        print("retrieval:", result["retrieval"], flush=True)
        write_result("bench_support", result, started)
        return 0
    off_topic = off_topic_queries(args.off_topic)
    result: dict = {"knowledge_base": "zulip_help/content_rendered",
                    "questions_file": "zulip_help/dev_questions.json",
                    "baseline_rev": args.baseline_rev}
    for who, run in (("now", lambda: run_now(questions, off_topic)),
                     ("before", lambda: run_before(args.baseline_rev, questions, off_topic))):
        results, kinds = run()
        s = summary_of(results, kinds)
        result[who] = s
        print(f"{who:6s} correct {s['correct']}/{s['questions']}, wrong {s['wrong']}, "
              f"abstained {s['abstained']}; unanswerable abstained "
              f"{s['unanswerable_abstained']}/{s['unanswerable']}; source@1/@5 "
              f"{s['source_at_1']}/{s['source_at_5']}; precision {s['precision']}; "
              f"p50/p95 {s['p50_ms']}/{s['p95_ms']} ms; answerable refused as out of scope "
              f"{s['answerable_refused_out_of_scope']}; off-topic {s['off_topic']['kinds']}",
              flush=True)
    result["relevance"] = relevance(questions, off_topic)
    print("relevance:", result["relevance"], flush=True)
    result["retrieval"] = retrieval_at_k(questions, args.baseline_rev)
    print("retrieval:", result["retrieval"], flush=True)
    write_result("bench_support", result, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())

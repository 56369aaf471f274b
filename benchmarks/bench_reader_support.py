"""The whole bot on a real help centre with each reader: does a better SQuAD reader give more
right answers and fewer wrong ones where it matters?

Data: ``../shared/data/zulip_help`` (Zulip's help centre, 213 articles, ``content_rendered/``)
and its ``dev_questions.json`` (80 answerable questions with the article and answer strings a
correct reply contains, 20 unanswerable). The bot runs as a user gets it (``app.build_engine``
with the default settings: hybrid retrieval, top 5, the shipped router, answer threshold), one
fresh conversation per question; only the reader folder changes. Scoring (the rules of issue 14,
``qabot.evaluation.support.score_reply``, as ``qabot eval support`` does): an answerable question
is *correct* when the reply is an answer or FAQ answer containing one of its answer strings
(case-insensitive), *wrong* when it is an answer without one, otherwise *abstained*; an
unanswerable question should get no answer. ``source@1`` / ``source@5``: the article is the
first / one of the first five cited sources of an answer.

This is the development set of the support work, so these figures are development figures: no
reader setting was tuned on them.

Run: ``.venv/bin/python benchmarks/bench_reader_support.py`` (about 3 minutes on 2 cores).
Result: ``benchmarks/results/bench_reader_support.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import DATA, REPO, require, write_result
from bench_reader_full import baseline_dir

ZULIP = DATA / "zulip_help"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=None, help="new reader (default: shipped)")
    p.add_argument("--baseline-rev", default="cd88c04",
                   help="git revision whose qabot/models/reader is the baseline")
    return p.parse_args()


def index_help_centre() -> Path:
    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build

    index = REPO / ".qabot" / "bench" / "zulip-index"
    build(require(ZULIP / "content_rendered", "zulip_help/content_rendered"), index,
          SentenceTransformerEmbedder(), progress=False)
    return index


def score(engine, questions) -> dict:
    """The figures of ``qabot eval support`` (``qabot.evaluation.support``), with the rows."""
    from qabot.evaluation.support import result_row, run_support_eval, summarize

    results = run_support_eval(engine, questions)
    metrics = {k: v for k, v in summarize(results).items()
               if k not in ("curve", "by_type", "target_precision", "operating_point")}
    rows = [result_row(r) for r in results]
    metrics["rows"] = [r for r in rows if r["article"]]
    metrics["unanswerable_rows"] = [r for r in rows if not r["article"]]
    return metrics


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    from qabot.app import build_engine
    from qabot.config import load_settings
    from qabot.evaluation.support import load_questions

    questions = load_questions(require(ZULIP / "dev_questions.json", "dev_questions.json"))
    index = index_help_centre()
    readers = {"new": args.model or REPO / "qabot" / "models" / "reader",
               "baseline": baseline_dir(args.baseline_rev)}
    result: dict = {"knowledge_base": "zulip_help/content_rendered", "readers": {}}
    for who, folder in readers.items():
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(env={}, index_dir=index, reader_model=folder,
                                     database_url=f"sqlite:///{tmp}/history.sqlite")
            engine = build_engine(settings, warm=True)
            metrics = score(engine, questions)
            engine.history.close()
        metrics["reader"] = str(Path(folder).resolve().relative_to(REPO))
        result["readers"][who] = metrics
        print(f"{who:8s} correct {metrics['correct']}/{metrics['questions']}, wrong "
              f"{metrics['wrong']}, abstained {metrics['abstained']}; unanswerable abstained "
              f"{metrics['unanswerable_abstained']}/{metrics['unanswerable']}; source@1 "
              f"{metrics['source_at_1']}; p50/p95 {metrics['p50_ms']}/{metrics['p95_ms']} ms",
              flush=True)
    write_result("bench_reader_support", result, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())

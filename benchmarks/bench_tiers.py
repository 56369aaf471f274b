"""The reply tiers on real help centres: the bot as it ships against a baseline checkout (the
previous main), in one run, with `qabot eval support`'s own counts.

    .venv/bin/python benchmarks/bench_tiers.py --baseline /tmp/base
    # /tmp/base: `git worktree add /tmp/base <commit>` of the baseline

zulip_help (dev: nothing was fitted on it) and obsidian_help's two question files (the related
tier was fitted on them: their figures are in-sample, the out-of-fold ones are printed by
`qabot train tiers`). Each side gets its own index folder (the index formats differ).
Writes benchmarks/results/tiers.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SETS = {
    "zulip dev": (DATA / "zulip_help/content_rendered", DATA / "zulip_help/dev_questions.json"),
    "obsidian A (fitted)": (DATA / "obsidian_help/content",
                            DATA / "obsidian_help/questions_a.json"),
    "obsidian B (fitted)": (DATA / "obsidian_help/content",
                            DATA / "obsidian_help/questions_b.json"),
}
KEYS = ("questions", "correct", "wrong", "resolved", "misleading", "related", "related_resolved",
        "unanswerable", "unanswerable_abstained", "unanswerable_answered",
        "unanswerable_related", "reply_chars_p50", "reply_chars_p95", "p50_ms", "p95_ms")


def run(src: Path, kb: Path, questions: Path, index: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "qabot.cli", "eval", "support", "--kb", str(kb),
                          "--questions", str(questions), "--index", str(index), "--json",
                          "--no-progress"], env=env, cwd=src, capture_output=True, text=True,
                         check=True).stdout
    data = json.loads(out)
    if "resolved" not in data:  # a baseline before these keys: count them from its replies
        data["resolved"] = data["correct"]
        data["misleading"] = data["wrong"]
        data["unanswerable_answered"] = data["unanswerable"] - data["unanswerable_abstained"]
    return {k: data.get(k) for k in KEYS}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="a checkout of the baseline")
    ap.add_argument("--work", type=Path, default=ROOT / ".qabot/bench-tiers")
    args = ap.parse_args()
    results = {}
    for name, (kb, questions) in SETS.items():
        for side, src in (("baseline", args.baseline.resolve()), ("now", ROOT)):
            index = args.work / f"{side}-{kb.parent.name}"
            results.setdefault(name, {})[side] = run(src, kb, questions, index)
            print(name, side, results[name][side], file=sys.stderr)
    (ROOT / "benchmarks/results").mkdir(exist_ok=True)
    (ROOT / "benchmarks/results/tiers.json").write_text(json.dumps(results, indent=1))
    print("| set | side | resolved | misleading | related (resolved) | unanswerable answered "
          "/ related | reply chars p50 / p95 | respond p50 / p95 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name, sides in results.items():
        for side, r in sides.items():
            print(f"| {name} | {side} | {r['resolved']} / {r['questions']} | {r['misleading']} "
                  f"| {r['related'] or 0} ({r['related_resolved'] or 0}) | "
                  f"{r['unanswerable_answered']} / {r['unanswerable_related'] or 0} of "
                  f"{r['unanswerable']} | {r['reply_chars_p50']} / {r['reply_chars_p95']} | "
                  f"{r['p50_ms']} / {r['p95_ms']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

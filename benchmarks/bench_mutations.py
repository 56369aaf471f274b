"""Does the fast test suite catch the faults the test audit planted? Each mutation is applied to
a fresh checkout of HEAD (a temporary git worktree), and `make test-fast`'s selection (no slow
test, no model) runs on it; a mutation is caught when at least one test fails.

    .venv/bin/python benchmarks/bench_mutations.py          # ~1 min per mutation on 2 cores

Writes benchmarks/results/bench_mutations.json and prints a Markdown table: each mutation, the
tests that failed, and the run's time. The unmutated checkout runs first and must pass.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "bench_mutations.json"

# name -> [(file, the text, its replacement)]
MUTATIONS: dict[str, list[tuple[str, str, str]]] = {
    "every fsync a no-op": [
        ("indexer/fsutil.py", "        os.fsync(fh.fileno())", "        pass"),
        ("indexer/fsutil.py", "        os.fsync(fd)", "        pass"),
        ("indexer/manifest.py", "        os.fsync(fh.fileno())", "        pass"),
    ],
    "the generation's rename not synced before the manifest": [
        ("indexer/writer.py", "        self.staging = None\n        fsync_dir(self.index_dir)",
         "        self.staging = None"),
    ],
    "the FAQ compared on the raw cosine": [
        ("qabot/dialogue/engine.py",
         "faq_confidence = (self.confidences.faq.probability(faq.score) if faq is not None",
         "faq_confidence = (faq.score if faq is not None"),
    ],
    "the faq_confidence override ignored": [
        ("qabot/dialogue/engine.py", "        chosen = self.settings.faq_confidence",
         "        chosen = None"),
    ],
    "a follow-up repeats the FAQ answer just given": [
        ("qabot/dialogue/engine.py",
         "                and not (said and faq.answer == said.text)):", "                ):"),
    ],
    "unsure small talk after a question stays small talk": [
        ("qabot/dialogue/engine.py",
         '        if asks and action in ("template", "context") and prediction.confidence < 0.5:',
         "        if False:"),
    ],
}


def fast_run(checkout: Path) -> tuple[float, list[str], str]:
    env = {**os.environ, "QABOT_TESTS_NO_MODELS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "CI": "true"}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "-m", "not slow and not model"], cwd=checkout, env=env,
                          capture_output=True, text=True)
    failed = [line.split(" - ")[0].removeprefix("FAILED ")
              for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    return round(time.monotonic() - start, 1), failed, last


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="names of mutations to run (default: all)")
    args = ap.parse_args()
    results: dict[str, dict] = {}
    # beside the repository, so that ../shared/data resolves as it does here
    checkout = Path(tempfile.mkdtemp(dir=ROOT.parent, prefix=".mutations-"))
    checkout.rmdir()
    subprocess.run(["git", "worktree", "add", "--detach", str(checkout), "HEAD"], cwd=ROOT,
                   check=True, capture_output=True)
    try:
        seconds, failed, last = fast_run(checkout)
        results["(none)"] = {"seconds": seconds, "failed": failed, "summary": last}
        assert not failed, f"the unmutated checkout fails: {failed}"
        for name, edits in MUTATIONS.items():
            if args.only and name not in args.only:
                continue
            originals = {}
            for file, old, new in edits:
                path = checkout / file
                text = originals.setdefault(file, path.read_text())
                current = path.read_text()
                if old not in current:
                    raise SystemExit(f"{name}: {old!r} not found in {file}")
                path.write_text(current.replace(old, new, 1))
            seconds, failed, last = fast_run(checkout)
            for file, text in originals.items():
                (checkout / file).write_text(text)
            results[name] = {"seconds": seconds, "caught": bool(failed), "failed": failed,
                             "summary": last}
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=ROOT,
                       capture_output=True)
    RESULT.write_text(json.dumps(results, indent=2) + "\n")
    print("| mutation | caught | failing fast tests | run |\n|---|---|---|---|")
    for name, r in results.items():
        if name == "(none)":
            print(f"| (none) | – | {len(r['failed'])} | {r['seconds']} s |")
            continue
        print(f"| {name} | {'yes' if r['caught'] else '**no**'} | {len(r['failed'])}: "
              f"{', '.join(f.split('::')[-1] for f in r['failed'][:3])} | {r['seconds']} s |")
    return 0 if all(r.get("caught", True) for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

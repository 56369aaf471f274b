"""The test suite's wall time, as CI runs it (``CI=true``, every test), against a baseline
checkout in the same run on the same machine; and ``make test-fast``'s.

    .venv/bin/python benchmarks/bench_tests.py --baseline ../base
    # ../base: `git worktree add ../base <commit>` of the baseline, installed with
    # `make -C ../base install` (its own .venv); it must sit beside this checkout, so
    # that its tests find ../shared/data as this one's do

Each side runs ``CI=true .venv/bin/python -m pytest -p no:cacheprovider`` in its own checkout
and venv, one after the other, nothing else running; then each side's fast run (the
baseline's ``make test-fast`` was ``-m "not slow"``, which still loaded the models; today's
is ``-m "not slow and not model"``). Writes benchmarks/results/bench_tests.json and prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "bench_tests.json"
COUNTS = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?)")


def run(checkout: Path, marker: str | None, *, extra_env: dict | None = None) -> dict:
    args = [str(checkout / ".venv/bin/python"), "-m", "pytest", "-p", "no:cacheprovider",
            "-q"]
    if marker:
        args += ["-m", marker]
    env = {**os.environ, "CI": "true", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           **(extra_env or {})}
    start = time.monotonic()
    proc = subprocess.run(args, cwd=checkout, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - start
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {kind.rstrip("s") if kind.startswith("error") else kind: int(n)
              for n, kind in COUNTS.findall(last)}
    failed = [line.split(" - ")[0] for line in proc.stdout.splitlines()
              if line.startswith(("FAILED", "ERROR"))]
    return {"seconds": round(seconds, 1), "exit": proc.returncode, "summary": last,
            "failures": failed, **counts}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True,
                    help="a checkout of the baseline with its own .venv, beside this one")
    ap.add_argument("--commit", default="", help="the baseline's commit, for the record")
    args = ap.parse_args()
    baseline = args.baseline.resolve()
    if not (baseline / ".venv/bin/python").exists():
        ap.error(f"{baseline} has no .venv: run `make -C {baseline} install` first")
    results = {
        "full": {"baseline": run(baseline, None), "now": run(ROOT, None)},
        "fast": {"baseline": run(baseline, "not slow"),
                 "now": run(ROOT, "not slow and not model",
                            extra_env={"QABOT_TESTS_NO_MODELS": "1"})},
        "baseline_commit": args.commit,
        "machine": f"{os.cpu_count()} CPU cores",
    }
    RESULT.write_text(json.dumps(results, indent=2) + "\n")
    print("| run | baseline | now | change |\n|---|---|---|---|")
    for name in ("full", "fast"):
        b, n = results[name]["baseline"], results[name]["now"]
        print(f"| {name} | {b['seconds']} s ({b['summary']}) | {n['seconds']} s "
              f"({n['summary']}) | {100 * (n['seconds'] / b['seconds'] - 1):+.0f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

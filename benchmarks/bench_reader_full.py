"""The reader's goals (issue 12): SQuAD and COVID-QA accuracy of the shipped reader against the
reader it replaced, at each reader's default precision and shipped no-answer threshold.

Evaluation sets (none trained on by either reader):
- ``v1.1_eval``: SQuAD v1.1 dev, ``splits.json`` eval_titles (1,877 questions), always answering;
- ``v2.0_eval``: SQuAD v2.0 dev, eval_titles (3,883 questions): the shipped threshold, and the
  best threshold on the split itself (an oracle, as the official v2.0 script reports);
- ``v1.1_dev_all``: the whole official v1.1 dev set (10,570 questions). Both readers trained on
  the 36 train_titles articles of it (their v1.1 and v2.0 questions), so only the eval_titles
  rows are unseen: the figure is for comparison with published ones, not a clean test;
- ``covid_eval``: COVID-QA eval papers of ``benchmarks/covid_qa_split.json`` (472 questions),
  each read against its whole paper, always answering.
Every set also reports answers of at most 30, 48 and 64 tokens, decoded from the same passes.

The baseline is the reader shipped at git revision ``--baseline-rev``, taken from git. Each
reader's rows are merged into the result file with their own date, so that the baseline can be
measured in one run and the new reader in another (``--readers``); the command of each is kept.

Run: ``.venv/bin/python benchmarks/bench_reader_full.py`` (about 45 minutes on 2 cores).
Result: ``benchmarks/results/bench_reader_full.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import DATA, REPO, RESULTS, require, write_result

SQUAD = DATA / "squad"
COVID = DATA / "covid_qa" / "200423_covidQA.json"
SETS = ("v1.1_eval", "v2.0_eval", "v1.1_dev_all", "covid_eval")
LENGTHS = (30, 48, 64)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=None, help="new reader (default: shipped)")
    p.add_argument("--baseline-rev", default="cd88c04",
                   help="git revision whose qabot/models/reader is the baseline")
    p.add_argument("--readers", nargs="+", choices=("new", "baseline"),
                   default=["new", "baseline"])
    p.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    p.add_argument("--limit", type=int, default=None,
                   help="questions per set (a smoke run: written to bench_reader_full_smoke.json)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    return p.parse_args()


def baseline_dir(rev: str) -> Path:
    """The reader folder at ``rev``, extracted from git once into .qabot/bench/."""
    out = REPO / ".qabot" / "bench" / f"reader-{rev}"
    if (out / "model.safetensors").is_file():
        return out
    data = subprocess.run(["git", "archive", rev, "qabot/models/reader"], cwd=REPO,
                          check=True, capture_output=True).stdout
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                (out / Path(member.name).name).write_bytes(tar.extractfile(member).read())
    return out


def evaluate(reader, name: str, limit: int | None) -> dict:
    from qabot.training.reader_eval import evaluate_reader
    from qabot.training.squad import read_title_list

    splits = str(require(SQUAD / "splits.json", "splits.json"))
    if name == "v1.1_eval":
        data, titles = SQUAD / "v1.1" / "dev-v1.1.json", read_title_list(splits + ":eval_titles")
    elif name == "v2.0_eval":
        data, titles = SQUAD / "v2.0" / "dev-v2.0.json", read_title_list(splits + ":eval_titles")
    elif name == "v1.1_dev_all":
        data, titles = SQUAD / "v1.1" / "dev-v1.1.json", None
    else:
        split = json.loads((REPO / "benchmarks" / "covid_qa_split.json").read_text())
        data, titles = COVID, split["eval_titles"]
    require(data, name)
    return evaluate_reader(reader, data, titles=titles, limit=limit, progress=sys.stderr.isatty(),
                           answer_lengths=LENGTHS)


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from qabot.reader.model import Reader

    name = "bench_reader_full" if args.limit is None else "bench_reader_full_smoke"
    path = RESULTS / f"{name}.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    result = {"readers": previous.get("readers", {})}  # earlier runs' rows, with their dates
    readers = result["readers"]
    dirs = {"new": args.model or REPO / "qabot" / "models" / "reader",
            "baseline": baseline_dir(args.baseline_rev)}
    for who in args.readers:
        reader = Reader(dirs[who])
        reader.warm_up()
        entry = readers.setdefault(who, {})
        entry.update(model=str(Path(dirs[who]).resolve().relative_to(REPO)),
                     reader_config=json.loads((Path(dirs[who]) / "reader_config.json")
                                              .read_text()),
                     date=datetime.now(UTC).isoformat(timespec="seconds"),
                     command=" ".join(sys.argv))
        if who == "baseline":
            entry["revision"] = args.baseline_rev
        for split in args.sets:
            metrics = evaluate(reader, split, args.limit)
            entry[split] = metrics
            line = f"{who:8s} {split:13s} F1 {metrics['always_answer']['f1']:.2f}"
            if "with_threshold" in metrics:
                line += (f" | at threshold {metrics['null_threshold']:+.2f}: F1 "
                         f"{metrics['with_threshold']['f1']:.2f}; oracle {metrics['best_f1']:.2f}"
                         f" at {metrics['best_f1_thresh']:+.2f}")
            lengths = metrics.get("by_answer_length", {})
            line += "  | by length " + " ".join(f"{n}:{s['f1']:.2f}" for n, s in lengths.items())
            print(line + f"  ({metrics['seconds']} s)", flush=True)
            write_result(name, result, started)  # after every set: resumable
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

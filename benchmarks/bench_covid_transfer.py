"""Domain transfer: the SQuAD-trained reader, fine-tuned further on part of COVID-QA.

COVID-QA (deepset, ``../shared/data/covid_qa/``) has 1,380 questions on 98 CORD-19 papers,
one context per paper (about 5,500 tokens, ~40 reader windows). Steps:

1. Split the papers, not the questions: ``benchmarks/covid_qa_split.json`` (70% train / 30%
   eval, seeded; ``--make-split`` writes it again).
2. Before: the shipped reader reads every eval question against its whole paper (all windows,
   always answering); official SQuAD EM/F1 with answers up to 30 tokens (the shipped setting)
   and up to 64 tokens (COVID-QA answers are long: median 15 tokens, 26% over 30).
3. Fine-tune from the shipped reader on the train papers (``qabot train reader`` with
   ``--base-model qabot/models/reader --negatives-per-question 2``; 2 epochs, lr 5e-5).
4. After: the fine-tuned reader on the same eval questions; both readers on the SQuAD v1.1
   eval split (what the second step costs on the first domain).

Run: ``.venv/bin/python benchmarks/bench_covid_transfer.py`` (about 35 minutes on 2 cores;
``--resume`` reuses a finished or interrupted training run in ``.qabot/train/reader-covid``).
Result: ``benchmarks/results/bench_covid_transfer.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import DATA, REPO, require, write_result

COVID = DATA / "covid_qa" / "200423_covidQA.json"
SPLIT = REPO / "benchmarks" / "covid_qa_split.json"
OUT = REPO / ".qabot" / "train" / "reader-covid"
ANSWER_LIMITS = (30, 64)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--make-split", action="store_true", help="write the paper split again")
    p.add_argument("--train-share", type=float, default=0.7)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--negatives", type=int, default=2, help="answerless windows per question")
    p.add_argument("--precision", default=None, help="inference precision (default: shipped)")
    p.add_argument("--limit", type=int, default=None, help="eval questions (smoke runs)")
    p.add_argument("--max-steps", type=int, default=None, help="training steps (smoke runs)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--resume", action="store_true")
    return p.parse_args()


def make_split(share: float, seed: int = 2020) -> dict:
    from qabot.training.squad import load_squad

    papers = sorted({e.title for e in load_squad(COVID)}, key=int)
    random.Random(seed).shuffle(papers)
    cut = round(share * len(papers))
    split = {"source": "covid_qa/200423_covidQA.json", "unit": "document_id", "seed": seed,
             "train_titles": sorted(papers[:cut], key=int),
             "eval_titles": sorted(papers[cut:], key=int)}
    SPLIT.write_text(json.dumps(split, indent=1) + "\n")
    return split


def evaluate(reader, examples, desc: str) -> dict:
    """Logits once per question over its whole paper, decoded with each answer-length limit."""
    from tqdm.auto import tqdm

    from qabot.training.squad_metrics import squad_scores

    golds = {e.id: [a.text for a in e.answers] for e in examples}
    preds: dict[int, dict[str, str]] = {n: {} for n in ANSWER_LIMITS}
    base = reader.settings
    started, windows = time.perf_counter(), 0
    for e in tqdm(examples, desc=desc, unit="q"):
        ws = reader.windows(e.question, [e.context])
        starts, ends = reader.logits(ws)
        windows += len(ws)
        for n in ANSWER_LIMITS:
            reader.settings = replace(base, max_answer_tokens=n)
            result = reader.decode(e.question, [e.context], ws, starts, ends, top_k=1)
            preds[n][e.id] = result.answers[0].text if result.answers else ""
        reader.settings = base
    out = {"questions": len(examples), "windows": windows,
           "seconds": round(time.perf_counter() - started, 1)}
    for n in ANSWER_LIMITS:
        s = squad_scores(preds[n], golds)
        out[f"answers_up_to_{n}_tokens"] = {"exact": round(s["exact"], 2), "f1": round(s["f1"], 2)}
    return out


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    from qabot.reader.model import DEFAULT_MODEL_DIR, Reader
    from qabot.training.reader_eval import evaluate_reader
    from qabot.training.reader_training import ReaderTrainConfig, train_reader
    from qabot.training.squad import load_squad, read_title_list

    require(COVID, "COVID-QA")
    split = make_split(args.train_share) if args.make_split or not SPLIT.is_file() \
        else json.loads(SPLIT.read_text())
    eval_examples = load_squad(COVID, split["eval_titles"])[: args.limit]
    n_train = len(load_squad(COVID, split["train_titles"]))
    print(f"papers: {len(split['train_titles'])} train ({n_train} questions), "
          f"{len(split['eval_titles'])} eval ({len(eval_examples)} questions)")
    result: dict = {"split": str(SPLIT.relative_to(REPO)),
                    "train_papers": len(split["train_titles"]), "train_questions": n_train,
                    "eval_papers": len(split["eval_titles"])}

    # 2. before
    before = Reader(precision=args.precision)
    result["before"] = evaluate(before, eval_examples, "COVID-QA eval, SQuAD reader")
    result["precision"] = before.precision  # resolved ("auto" -> bf16 or fp32)
    print("before:", json.dumps(result["before"]))
    squad = require(DATA / "squad" / "v1.1" / "dev-v1.1.json", "SQuAD v1.1 dev")
    titles = read_title_list(str(DATA / "squad" / "splits.json") + ":eval_titles")
    result["squad_v1.1_eval_before"] = evaluate_reader(before, squad, titles=titles,
                                                       limit=args.limit)["always_answer"]
    del before

    # 3. fine-tune from the shipped reader
    cfg = ReaderTrainConfig(
        train_files=[str(COVID)], out_dir=str(args.out), titles=split["train_titles"],
        base_model=str(DEFAULT_MODEL_DIR), epochs=args.epochs, learning_rate=args.lr,
        negatives_per_question=args.negatives, max_steps=args.max_steps,
    )
    done = args.out / "model" / "model.safetensors"
    summary_file = args.out / "train_summary.json"
    if args.resume and done.is_file() and summary_file.is_file():
        summary = json.loads(summary_file.read_text())
        print(f"reusing the finished training run in {args.out}")
    else:
        summary = train_reader(cfg, resume=args.resume)
    result["training"] = {k: summary.get(k) for k in (
        "examples", "features", "steps", "seconds", "first_loss", "final_loss",
        "dropped_guessed_offsets")} | {"epochs": args.epochs, "learning_rate": args.lr,
                                       "negatives_per_question": args.negatives}

    # 4. after, on COVID-QA and on the SQuAD v1.1 eval split
    after = Reader(args.out / "model", settings=Reader().settings, precision=args.precision)
    result["after"] = evaluate(after, eval_examples, "COVID-QA eval, fine-tuned reader")
    print("after:", json.dumps(result["after"]))
    result["squad_v1.1_eval_after"] = evaluate_reader(after, squad, titles=titles,
                                                      limit=args.limit)["always_answer"]
    print("SQuAD v1.1 eval split after:", json.dumps(result["squad_v1.1_eval_after"]))
    path = write_result("bench_covid_transfer", result, started)
    print(f"total {time.perf_counter() - started:.0f} s; result {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Reader accuracy, latency, fast path and the transformers-pipeline baseline.

What it measures (all on the SQuAD dev articles of ``splits.json``'s ``eval_titles``, which the
reader never saw in training):
1. Quality: EM/F1 with the official metric on the v1.1 eval split (always answering) and the
   v2.0 eval split (abstaining by the model's shipped null threshold, and the best threshold
   on the split as the official v2.0 script reports it), for each inference precision: fp32,
   int8 (torch dynamic quantization, per-channel weight scales) and bf16.
2. Latency per window: one full ``--max-length`` window at a time (batch 1), p50/p95.
3. Latency per question with 5 passages: the gold paragraph plus 4 other paragraphs of the
   same article, ``Reader.read``, p50/p95.
4. Baseline: transformers' ``pipeline("question-answering")`` with the same weights on the same
   questions and passages (256-token windows, stride 96), run in ``.venv-hfpipe``
   (transformers 5.2.0: later releases removed that pipeline; ``make bench-venv``), at its
   default batch size 1 and at our 16. Two settings: the gold paragraph alone, and the same 5
   passages as in 3 (the pipeline's answer is its highest-scoring one over the 5). F1 and time
   per question against our reader, in the same run.

Run: ``.venv/bin/python benchmarks/bench_reader.py`` (about 25 minutes on 2 cores).
Result: ``benchmarks/results/bench_reader.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import DATA, REPO, percentile_ms, require, write_result

SQUAD = DATA / "squad"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=None, help="reader folder (default: shipped)")
    p.add_argument("--limit", type=int, default=None, help="questions per eval split")
    p.add_argument("--latency-windows", type=int, default=200)
    p.add_argument("--latency-questions", type=int, default=100)
    p.add_argument("--pipeline-questions", type=int, default=300)
    p.add_argument("--hf-python", type=Path, default=REPO / ".venv-hfpipe" / "bin" / "python")
    p.add_argument("--skip-quality", action="store_true")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    from qabot.reader.model import Reader
    from qabot.reader.windows import WindowSettings, make_windows
    from qabot.training.reader_eval import evaluate_reader
    from qabot.training.squad import load_squad, read_title_list

    v11 = require(SQUAD / "v1.1" / "dev-v1.1.json", "SQuAD v1.1 dev")
    v20 = require(SQUAD / "v2.0" / "dev-v2.0.json", "SQuAD v2.0 dev")
    titles = read_title_list(str(require(SQUAD / "splits.json", "splits.json")) + ":eval_titles")
    readers = {p: Reader(args.model, precision=p) for p in ("fp32", "int8", "bf16")}
    for r in readers.values():
        r.warm_up()
    result: dict = {"model": str(readers["fp32"].model_dir.relative_to(REPO)
                                 if readers["fp32"].model_dir.is_relative_to(REPO)
                                 else readers["fp32"].model_dir),
                    "settings": readers["fp32"].settings.__dict__}

    # 1. quality
    if not args.skip_quality:
        quality = {}
        for name, reader in readers.items():
            v1 = evaluate_reader(reader, v11, titles=titles, limit=args.limit)
            v2 = evaluate_reader(reader, v20, titles=titles, limit=args.limit)
            quality[name] = {"v1.1": v1, "v2.0": v2}
            print(f"{name}: v1.1 EM {v1['always_answer']['exact']:.2f} F1 "
                  f"{v1['always_answer']['f1']:.2f} | v2.0 F1 {v2['with_threshold']['f1']:.2f} "
                  f"(threshold {v2['null_threshold']:+.2f}), best {v2['best_f1']:.2f} at "
                  f"{v2['best_f1_thresh']:+.2f}")
        result["quality"] = quality

    examples = load_squad(v11, titles)
    rng = random.Random(7)

    # 2. latency per full window, batch 1
    tok = readers["fp32"]._tokenizer
    s = readers["fp32"].settings
    full = []
    for e in rng.sample(examples, min(len(examples), 2000)):
        for w in make_windows(tok, e.question, [e.context],
                              WindowSettings(max_length=s.max_length, stride=s.stride)):
            if len(w.input_ids) == s.max_length:
                full.append(w)
        if len(full) >= args.latency_windows:
            break
    per_window = {}
    for name, reader in readers.items():
        times = []
        for w in full:
            t = time.perf_counter()
            reader.logits([w])
            times.append(time.perf_counter() - t)
        per_window[name] = {"p50_ms": round(percentile_ms(times, 50), 2),
                            "p95_ms": round(percentile_ms(times, 95), 2), "windows": len(full),
                            "tokens": s.max_length}
        print(f"{name}: {s.max_length}-token window p50 {per_window[name]['p50_ms']} ms "
              f"p95 {per_window[name]['p95_ms']} ms")
    result["latency_per_window"] = per_window

    # 3. latency per question with 5 passages (gold + 4 others of the same article)
    by_title: dict[str, list[str]] = {}
    for e in examples:
        if e.context not in by_title.setdefault(e.title, []):
            by_title[e.title].append(e.context)
    sample = rng.sample(examples, min(args.latency_questions, len(examples)))
    per_question = {}
    for name, reader in readers.items():
        times, windows = [], 0
        for e in sample:
            passages = five_passages(e, by_title)
            t = time.perf_counter()
            reader.read(e.question, passages)
            times.append(time.perf_counter() - t)
            windows += len(reader.windows(e.question, passages))
        per_question[name] = {"p50_ms": round(percentile_ms(times, 50), 1),
                              "p95_ms": round(percentile_ms(times, 95), 1),
                              "questions": len(sample),
                              "mean_windows": round(windows / len(sample), 2)}
        print(f"{name}: question with 5 passages p50 {per_question[name]['p50_ms']} ms "
              f"p95 {per_question[name]['p95_ms']} ms")
    result["latency_per_question_5_passages"] = per_question

    # 4. transformers pipeline baseline on the same questions and passages: (a) the gold
    #    paragraph alone, (b) the gold paragraph + 4 others of its article (the bot's workload)
    subset = examples[: args.pipeline_questions]
    golds = {e.id: [a.text for a in e.answers] for e in subset}
    settings_ = {
        "gold_paragraph": {e.id: [e.context] for e in subset},
        "five_passages": {e.id: five_passages(e, by_title) for e in subset},
    }
    comparison = {"questions": len(subset)}
    for setting, passages in settings_.items():
        comparison[setting] = compare_with_pipeline(subset, passages, golds, readers, args)
    result["pipeline_comparison"] = comparison
    path = write_result("bench_reader", result, started)
    print(f"total {time.perf_counter() - started:.0f} s; result {path.relative_to(REPO)}")
    return 0


def five_passages(e, by_title: dict[str, list[str]]) -> list[str]:
    """The gold paragraph and 4 other paragraphs of the same article (seeded by question id)."""
    others = [c for c in by_title[e.title] if c != e.context]
    return [e.context, *random.Random(e.id).sample(others, min(4, len(others)))]


def compare_with_pipeline(subset, passages: dict[str, list[str]], golds, readers, args) -> dict:
    """F1 and time per question: our reader (each precision) vs the transformers pipeline
    (batch 1, its default, and batch 16, ours) on the same questions and passages."""
    from qabot.training.squad_metrics import squad_scores


    def summary(preds: dict[str, str], times: list[float]) -> dict:
        scores = squad_scores(preds, golds)
        return {"f1": round(scores["f1"], 2), "exact": round(scores["exact"], 2),
                "mean_ms": round(1000 * sum(times) / len(times), 1),
                "p50_ms": round(percentile_ms(times, 50), 1)}

    ours = {}
    for name, reader in readers.items():
        preds, times = {}, []
        for e in subset:
            t = time.perf_counter()
            res = reader.read(e.question, passages[e.id], top_k=1)
            times.append(time.perf_counter() - t)
            preds[e.id] = res.answers[0].text if res.answers else ""
        ours[name] = summary(preds, times)
    baselines = {}
    if not args.hf_python.exists():
        print(f"note: {args.hf_python} not found (make bench-venv); pipeline baseline skipped")
    else:
        items = [{"id": e.id, "question": e.question, "contexts": passages[e.id]} for e in subset]
        for batch in (1, 16):
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "in.json").write_text(json.dumps(items))
                subprocess.run([str(args.hf_python),
                                str(REPO / "benchmarks/hf_pipeline_baseline.py"),
                                str(readers["fp32"].model_dir), f"{tmp}/in.json",
                                f"{tmp}/out.json", str(batch)], check=True)
                out = json.loads((Path(tmp) / "out.json").read_text())
            baselines[f"batch_{batch}"] = {**summary(out["predictions"], out["seconds"]),
                                           "transformers": out["transformers"]}
        fastest = min(b["mean_ms"] for b in baselines.values())
        for o in ours.values():
            o["speedup_vs_fastest_pipeline"] = round(fastest / o["mean_ms"], 2)
    for name, o in ours.items():
        print(f"ours {name}: F1 {o['f1']} mean {o['mean_ms']} ms/question"
              + (f" ({o['speedup_vs_fastest_pipeline']}x the fastest pipeline)"
                 if baselines else ""))
    for name, b in baselines.items():
        print(f"transformers pipeline {name}: F1 {b['f1']} mean {b['mean_ms']} ms/question")
    return {"passages_per_question": round(sum(len(p) for p in passages.values())
                                           / len(passages), 2),
            "ours": ours, "transformers_pipeline": baselines}


if __name__ == "__main__":
    raise SystemExit(main())

"""Intent classification on real benchmarks: BANKING77 and CLINC150, both transfer modes.

Runs (each: training time on this machine, test metrics, ms per single message):
- the shipped router (``qabot/models/intents``) on ``tests/data/intent_holdout.jsonl``.
- BANKING77 (``../shared/data/banking77``; 10,003 train / 3,080 test, 77 intents): frozen
  features + logistic regression, + calibrated linear SVM, and fine-tuning; on the full train
  set and on 10 examples per intent. Validation (C choice, early stopping): 10% of every
  intent held out of the train file, the same for every run; few-shot runs draw their 10 per
  intent from the rest.
- CLINC150 (``../shared/data/clinc150/data_full.json``; 15,000 train / 3,000 val / 4,500 test
  in scope, 100/100/1,000 out of scope): in-scope accuracy and out-of-scope recall with the
  threshold tuned on the val split (``balanced``: mean of in-scope accuracy and oos recall),
  without and with the 100 ``oos_train`` messages as an explicit out_of_scope class (fine-tuning:
  with it only, for time).
Frozen-feature runs come first, then the fine-tuning runs (LP-FT: the classification head starts
from a logistic regression on the frozen features, then the whole encoder is trained; 5 epochs at
most with early stopping on validation accuracy, lr 1e-4); the result file is rewritten after
every run.

Run: ``.venv/bin/python benchmarks/bench_intents.py [--only banking77|clinc150] [--skip-finetune]``
(about 60 minutes on 2 cores with fine-tuning). Result: ``benchmarks/results/bench_intents.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import DATA, REPO, RESULTS, require, write_result

BANKING = DATA / "banking77"
CLINC = DATA / "clinc150" / "data_full.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", choices=("banking77", "clinc150"))
    p.add_argument("--skip-finetune", action="store_true")
    p.add_argument("--epochs", type=int, default=5, help="fine-tuning: most epochs")
    p.add_argument("--thresholds-only", action="store_true",
                   help="only redo the threshold-objective comparison on the saved CLINC150 "
                   "models (after a full run)")
    p.add_argument("--resume", action="store_true",
                   help="keep the runs already in results/bench_intents.json, do the rest")
    p.add_argument("--out", type=Path, default=REPO / ".qabot" / "bench-intents")
    return p.parse_args()


def run(name: str, cfg_kwargs: dict, test, out_root: Path, embedder) -> dict:
    from qabot.intents.classifier import IntentClassifier
    from qabot.training.intent_eval import evaluate_intents
    from qabot.training.intent_training import IntentTrainConfig, train_intents

    out = out_root / name
    started = time.perf_counter()
    meta = train_intents(IntentTrainConfig(out_dir=str(out), **cfg_kwargs), progress=True,
                         embedder=embedder if cfg_kwargs.get("mode") != "finetune" else None)
    train_seconds = time.perf_counter() - started
    clf = IntentClassifier(out, embedder=embedder)
    metrics = evaluate_intents(clf, test, confusion=out / "confusion.png")
    row = {"name": name, "train_seconds": round(train_seconds, 1),
           "train_examples": meta["train_examples"], "threshold": round(meta["threshold"], 4),
           **{k: meta[k] for k in ("c", "best_epoch", "epochs_run", "history") if k in meta},
           **{k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()
              if k not in ("per_intent", "confusion_png")}}
    if "oos_recall" in metrics:
        no_threshold = IntentClassifier(out, embedder=embedder, threshold=0.0)
        m0 = evaluate_intents(no_threshold, test, latency_messages=0)
        row["without_threshold"] = {k: round(m0[k], 4) for k in
                                    ("accuracy", "in_scope_accuracy", "oos_recall")}
    print(json.dumps({k: v for k, v in row.items() if k != "history"}), flush=True)
    return row


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    from indexer.embedding import SentenceTransformerEmbedder
    from qabot.training.intent_data import load_labelled

    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    result: dict = {}
    previous = RESULTS / "bench_intents.json"
    if args.resume and previous.is_file():
        result = {k: v for k, v in json.loads(previous.read_text()).items()
                  if k in ("banking77", "clinc150", "earlier_random_head_finetune")}

    # the shipped router on the held-out messages written for its test, and its latency
    from qabot.intents.classifier import IntentClassifier
    from qabot.training.intent_eval import evaluate_intents

    holdout, _ = load_labelled(REPO / "tests" / "data" / "intent_holdout.jsonl")
    shipped = evaluate_intents(IntentClassifier(embedder=embedder), holdout)
    result["shipped_router_holdout"] = {k: v for k, v in shipped.items() if k != "per_intent"}
    print("shipped router on the holdout:", json.dumps(result["shipped_router_holdout"]))
    banking_train = str(require(BANKING / "train.csv", "BANKING77 train"))
    banking_test, _ = load_labelled(require(BANKING / "test.csv", "BANKING77 test"))
    require(CLINC, "CLINC150 data_full.json")
    clinc_test, _ = load_labelled(CLINC, "test")
    tmp = tempfile.TemporaryDirectory()
    clinc_no_oos = Path(tmp.name) / "data_full_no_oos_train.json"
    data = json.loads(CLINC.read_text())
    data.pop("oos_train")
    clinc_no_oos.write_text(json.dumps(data))

    runs = []  # (dataset, name, training options): frozen features first, then fine-tuning
    features = ({"mode": "features", "classifier": "logreg"},
                {"mode": "features", "classifier": "svm"})
    finetune = {"mode": "finetune", "epochs": args.epochs, "patience": 2, "learning_rate": 1e-4,
                "init_head": True}
    if args.only in (None, "banking77"):
        for shots in (None, 10):
            for extra in features:
                runs.append(("banking77", f"banking77-{_tag(shots)}-features-"
                             f"{extra['classifier']}",
                             {"data": banking_train, "per_class": shots, **extra}))
    if args.only in (None, "clinc150"):
        for variant, path in (("threshold", clinc_no_oos), ("oos-class", CLINC)):
            for extra in features:
                runs.append(("clinc150", f"clinc150-{variant}-features-{extra['classifier']}",
                             {"data": str(path), **extra}))
    if not args.skip_finetune:
        if args.only in (None, "banking77"):
            for shots in (None, 10):
                runs.append(("banking77", f"banking77-{_tag(shots)}-finetune-lpft",
                             {"data": banking_train, "per_class": shots, **finetune}))
        if args.only in (None, "clinc150"):
            runs.append(("clinc150", "clinc150-oos-class-finetune-lpft",
                         {"data": str(CLINC), **finetune}))
    tests = {"banking77": banking_test, "clinc150": clinc_test}
    done = {row["name"] for key in ("banking77", "clinc150") for row in result.get(key, [])}
    for dataset, name, options in runs:
        if name in done:
            continue
        row = run(name, options, tests[dataset], args.out, embedder)
        result.setdefault(dataset, []).append(row)
        write_result("bench_intents", result, started)  # partial results survive a stop
    tmp.cleanup()

    # the out-of-scope threshold chosen on CLINC150's val split by each objective
    if "clinc150" in result:
        val, _ = load_labelled(CLINC, "val")
        for row in result["clinc150"]:
            row["threshold_objectives"] = threshold_objectives(
                args.out / row["name"], val, clinc_test, embedder)
            print(row["name"], json.dumps(row["threshold_objectives"]), flush=True)
        write_result("bench_intents", result, started)

    path = write_result("bench_intents", result, started)
    print(f"total {time.perf_counter() - started:.0f} s; result {path.relative_to(REPO)}")
    return 0


def threshold_objectives(model_dir: Path, val, test, embedder) -> dict:
    """Test in-scope accuracy and oos recall at the threshold each objective picks on val."""
    from qabot.intents.classifier import IntentClassifier
    from qabot.intents.routing import routed_labels
    from qabot.training.intent_metrics import OBJECTIVES, choose_threshold, intent_metrics

    clf = IntentClassifier(model_dir, embedder=embedder)
    val_probs, test_probs = clf.probabilities(val.texts), clf.probabilities(test.texts)
    out = {}
    for objective in OBJECTIVES:
        t, _ = choose_threshold(val_probs, val.labels, clf.labels, objective)
        m = intent_metrics(test.labels, routed_labels(test_probs, clf.labels, t))
        out[objective] = {"threshold": round(t, 4), "accuracy": round(m["accuracy"], 4),
                          "in_scope_accuracy": round(m["in_scope_accuracy"], 4),
                          "oos_recall": round(m["oos_recall"], 4)}
    return out


def _tag(shots: int | None) -> str:
    return "full" if shots is None else f"{shots}-shot"


if __name__ == "__main__":
    raise SystemExit(main())

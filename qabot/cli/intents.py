"""`qabot train intents`, `qabot eval intents`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qabot.cli.options import progress


def add_parsers(train, evaluate) -> None:
    ti = train.add_parser(
        "intents", help="train the intent classifier (frozen features or fine-tuning)",
        description="Train an intent classifier from all-MiniLM-L6-v2. DATA is an intent file "
        "(YAML, or CSV with text,intent columns) or a CLINC150-style JSON (its train split; "
        "its val split validates). The out-of-scope threshold is chosen on the validation "
        "split.")
    ti.add_argument("--data", required=True, metavar="FILE")
    ti.add_argument("--out", required=True, type=Path, metavar="DIR")
    ti.add_argument("--mode", choices=("features", "finetune"), default="features",
                    help="frozen embeddings + a linear classifier, or fine-tune the encoder "
                    "(default: features)")
    ti.add_argument("--encoder", metavar="NAME|PATH",
                    help="features: the sentence encoder, a bundled model or a folder (default: "
                    "the index's default, qabot/retriever-minilm-l6-squad-v1, so that routing "
                    "reuses the query's embedding)")
    ti.add_argument("--classifier", choices=("logreg", "svm"), default="logreg",
                    help="features mode: logistic regression or a calibrated linear SVM")
    ti.add_argument("--c", type=float, help="regularisation C (default: chosen on validation)")
    ti.add_argument("--val", metavar="FILE", help="validation data (default: the file's val "
                    "split, else 10%% of every intent held out)")
    ti.add_argument("--per-class", type=int, metavar="N",
                    help="train on at most N examples per intent (few-shot)")
    ti.add_argument("--threshold-objective", choices=("balanced", "accuracy"),
                    default="balanced", help="balanced: mean of in-scope accuracy and "
                    "out-of-scope recall (default); accuracy: over all messages")
    ti.add_argument("--epochs", type=int, default=10, help="finetune: most epochs (default 10)")
    ti.add_argument("--patience", type=int, default=2,
                    help="finetune: stop after N epochs without a better validation accuracy")
    ti.add_argument("--lr", type=float, default=5e-5, help="finetune: peak learning rate")
    ti.add_argument("--no-head-init", action="store_true",
                    help="finetune: start from a random head instead of a linear probe (LP-FT)")
    ti.add_argument("--batch-size", type=int, default=32)
    ti.add_argument("--seed", type=int, default=13)
    ti.add_argument("--json", action="store_true", help="print the training summary as JSON")
    ti.add_argument("--no-progress", action="store_true")
    ti.set_defaults(func=cmd_train_intents)

    ei = evaluate.add_parser(
        "intents", help="accuracy, macro-F1, per-intent report, out-of-scope recall/precision")
    ei.add_argument("--data", required=True, metavar="FILE",
                    help="intent file (YAML/CSV) or CLINC150-style JSON")
    ei.add_argument("--split", default="test", help="split of a JSON file (default: test)")
    ei.add_argument("--model", type=Path, metavar="DIR",
                    help="intent model folder (default: the shipped router)")
    ei.add_argument("--threshold", type=float, help="override the model's threshold")
    ei.add_argument("--confusion", type=Path, metavar="PNG", help="write a confusion matrix")
    ei.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ei.set_defaults(func=cmd_eval_intents)


def cmd_train_intents(args: argparse.Namespace) -> int:
    from qabot.training.intent_training import IntentTrainConfig, train_intents

    cfg = IntentTrainConfig(
        data=args.data, out_dir=str(args.out), mode=args.mode, classifier=args.classifier,
        c=args.c, val_data=args.val, encoder=args.encoder,
        threshold_objective=args.threshold_objective,
        per_class=args.per_class, seed=args.seed, epochs=args.epochs, patience=args.patience,
        learning_rate=args.lr, batch_size=args.batch_size, init_head=not args.no_head_init,
    )
    meta = train_intents(cfg, progress=progress(args))
    if args.json:
        print(json.dumps(meta, indent=2))
        return 0
    v = meta["validation"]
    print(f"trained {meta['mode']} intent model on {meta['train_examples']} examples "
          f"({len(meta['labels'])} intents) in {meta['seconds']} s -> {args.out}")
    print(f"validation ({meta['val_examples']}): accuracy {v['accuracy']:.4f}, "
          f"macro-F1 {v['macro_f1']:.4f}; out-of-scope threshold {meta['threshold']:.3f}"
          + (f" (in-scope {v['in_scope_accuracy']:.4f}, oos recall {v['oos_recall']:.4f})"
             if "oos_recall" in v else ""))
    return 0


def cmd_eval_intents(args: argparse.Namespace) -> int:
    from qabot.intents.classifier import IntentClassifier
    from qabot.training.intent_data import load_labelled
    from qabot.training.intent_eval import evaluate_intents

    data, _ = load_labelled(args.data, args.split)
    classifier = IntentClassifier(args.model, threshold=args.threshold)
    metrics = evaluate_intents(classifier, data, confusion=args.confusion)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    print(f"{metrics['messages']} messages, {classifier.mode} model, threshold "
          f"{metrics['threshold']:.3f}, {metrics['single_message_p50_ms']} ms per message (p50)")
    print(f"accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}")
    if "oos_recall" in metrics:
        print(f"in-scope accuracy {metrics['in_scope_accuracy']:.4f}  out-of-scope recall "
              f"{metrics['oos_recall']:.4f}  precision {metrics['oos_precision']:.4f}")
    print(f"{'intent':<28}{'precision':>10}{'recall':>8}{'f1':>8}{'n':>6}")
    for name, r in metrics["per_intent"].items():
        print(f"{name:<28}{r['precision']:>10.3f}{r['recall']:>8.3f}{r['f1']:>8.3f}"
              f"{r['support']:>6}")
    if args.confusion:
        print(f"confusion matrix: {args.confusion}")
    return 0

"""`qabot train reader`, `qabot eval reader`, `qabot export reader`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qabot.cli.options import progress, titles
from qabot.errors import QabotError


def add_parsers(train, evaluate, export) -> None:
    _add_train(train)
    _add_eval(evaluate)
    _add_export(export)


def _add_train(train) -> None:
    tr = train.add_parser(
        "reader", help="fine-tune the span-prediction reader on SQuAD-format JSON",
        description="Fine-tune all-MiniLM-L6-v2 with a span head on SQuAD v1.1/v2.0-format "
        "files. When several files hold the same article, the first one given wins (pass a v2.0 "
        "file first to train on its unanswerable questions). Answers whose offsets a "
        "'<file>.answer_start_provenance.json' marks as guessed are not used.")
    tr.add_argument("--train", action="append", required=True, metavar="FILE[@TITLES]",
                    help="SQuAD-format JSON (repeatable); FILE@TITLES keeps only those articles "
                    "of that file (TITLES as for --titles)")
    tr.add_argument("--out", required=True, type=Path, metavar="DIR",
                    help="output folder: model/, checkpoint/, metrics.jsonl, train_summary.json")
    tr.add_argument("--titles", metavar="FILE[:KEY]",
                    help="only these articles: a JSON file and key (splits.json:train_titles) "
                    "or a text file with one title per line")
    tr.add_argument("--base-model", metavar="DIR",
                    help="start from this model folder (default: the bundled encoder); "
                    "give a trained reader for a second fine-tuning step")
    tr.add_argument("--epochs", type=float, default=2.0)
    tr.add_argument("--batch-size", type=int, default=16)
    tr.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (default 1e-4)")
    tr.add_argument("--max-length", type=int, default=256, help="window length in tokens")
    tr.add_argument("--stride", type=int, default=96, help="tokens shared by adjacent windows")
    tr.add_argument("--seed", type=int, default=13)
    tr.add_argument("--checkpoint-every", type=int, default=200, metavar="STEPS")
    tr.add_argument("--max-steps", type=int, help="stop after this many steps")
    tr.add_argument("--limit", type=int, help="use only the first N questions")
    tr.add_argument("--negatives-per-question", type=int, metavar="N",
                    help="keep at most N windows without the answer per question (long "
                    "documents; default: keep all)")
    tr.add_argument("--same-article-negatives", type=float, default=0.0, metavar="FRACTION",
                    help="add unanswerable examples: this fraction of the answerable questions, "
                    "each against another paragraph of its article that lacks the answer "
                    "(default 0)")
    tr.add_argument("--val-articles", type=int, default=0, metavar="N",
                    help="hold out N articles of the first --train file (never trained on) and "
                    "store the no-answer threshold that is F1-best on them in the model "
                    "(default 0: keep the base model's threshold)")
    tr.add_argument("--sample", type=int, metavar="N",
                    help="train on N examples of a seeded permutation of the training data")
    tr.add_argument("--sample-offset", type=int, default=0, metavar="K",
                    help="start the sample at position K of that permutation (a continuation "
                    "run takes the next N)")
    tr.add_argument("--max-answer-tokens", type=int, metavar="N",
                    help="the longest answer the trained reader gives (stored in its config; "
                    "the validation threshold is chosen with it)")
    tr.add_argument("--device", default="auto",
                    help="torch device: auto (CUDA when available, else CPU), cpu, cuda, ...")
    tr.add_argument("--resume", action="store_true", help="continue from --out/checkpoint")
    tr.add_argument("--no-progress", action="store_true")
    tr.set_defaults(func=cmd_train_reader)


def _add_eval(evaluate) -> None:
    er = evaluate.add_parser(
        "reader", help="SQuAD EM/F1 of a reader (official metric, HasAns/NoAns, best threshold)")
    er.add_argument("--data", required=True, metavar="FILE", help="SQuAD-format JSON")
    er.add_argument("--titles", metavar="FILE[:KEY]", help="only these articles")
    er.add_argument("--model", type=Path, metavar="DIR",
                    help="reader folder (default: the shipped reader)")
    er.add_argument("--limit", type=int, help="only the first N questions")
    er.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"),
                    help="inference precision (default: the model's reader_config.json)")
    er.add_argument("--max-answer-tokens", type=int, metavar="N",
                    help="longest answer in tokens (default: the model's reader_config.json)")
    er.add_argument("--json", action="store_true", help="print the metrics as JSON")
    er.add_argument("--no-progress", action="store_true")
    er.set_defaults(func=cmd_eval_reader)


def _add_export(export) -> None:
    ex = export.add_parser("reader", help="package a trained reader for shipping (fp16)")
    ex.add_argument("--model", required=True, type=Path, metavar="DIR",
                    help="a trained reader folder (the model/ of 'qabot train reader')")
    ex.add_argument("--out", required=True, type=Path, metavar="DIR")
    ex.add_argument("--fp32", action="store_true", help="keep fp32 weights")
    ex.add_argument("--null-threshold", type=float,
                    help="abstain when no-answer score - best span score exceeds this")
    ex.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"),
                    help="the inference precision the reader uses by default")
    ex.add_argument("--max-answer-tokens", type=int, metavar="N",
                    help="the longest answer the reader gives by default, in tokens")
    ex.set_defaults(func=cmd_export_reader)


def cmd_train_reader(args: argparse.Namespace) -> int:
    from qabot.training.reader_training import ReaderTrainConfig, train_reader
    from qabot.training.squad import parse_source

    for spec in args.train:
        try:
            source = parse_source(spec)
        except ValueError as exc:
            raise QabotError(str(exc)) from None
        except (OSError, KeyError) as exc:
            raise QabotError(f"bad training source {spec!r}: {exc}") from None
        if not Path(source.file).is_file():
            raise QabotError(f"training file not found: {source.file}")
    cfg = ReaderTrainConfig(
        train_files=args.train, out_dir=str(args.out), titles=titles(args.titles),
        base_model=args.base_model, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.lr, max_length=args.max_length, stride=args.stride, seed=args.seed,
        checkpoint_every=args.checkpoint_every, max_steps=args.max_steps, limit=args.limit,
        negatives_per_question=args.negatives_per_question,
        same_article_negatives=args.same_article_negatives, val_articles=args.val_articles,
        sample=args.sample, sample_offset=args.sample_offset, device=args.device,
        max_answer_tokens=args.max_answer_tokens,
    )
    summary = train_reader(cfg, resume=args.resume,
                           progress=progress(args))
    print(f"trained {summary['steps']} steps on {summary['features']} windows "
          f"({summary['answerable']} answerable, {summary['unanswerable']} unanswerable "
          f"questions) in {summary['seconds']} s; model in {args.out / 'model'}")
    return 0


def cmd_eval_reader(args: argparse.Namespace) -> int:
    from qabot.reader.model import Reader
    from qabot.training.reader_eval import evaluate_reader

    if not Path(args.data).is_file():
        raise QabotError(f"data file not found: {args.data}")
    reader = Reader(args.model, precision=args.precision,
                    max_answer_tokens=args.max_answer_tokens)
    metrics = evaluate_reader(reader, args.data, titles=titles(args.titles), limit=args.limit,
                              progress=progress(args))
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    a = metrics["always_answer"]
    print(f"{metrics['questions']} questions, {metrics['ms_per_question']} ms each "
          f"({reader.precision})")
    print(f"always answering:   EM {a['exact']:.2f}  F1 {a['f1']:.2f}")
    if "with_threshold" in metrics:
        t = metrics["with_threshold"]
        print(f"with null threshold {metrics['null_threshold']:+.2f}: EM {t['exact']:.2f}  "
              f"F1 {t['f1']:.2f}  (HasAns F1 {t['HasAns_f1']:.2f}, NoAns {t['NoAns_f1']:.2f})")
        print(f"best threshold on this data: {metrics['best_f1_thresh']:+.2f} -> "
              f"F1 {metrics['best_f1']:.2f}")
    return 0


def cmd_export_reader(args: argparse.Namespace) -> int:
    from qabot.training.export import export_reader

    settings = {key: value for key, value in (("null_threshold", args.null_threshold),
                                              ("precision", args.precision),
                                              ("max_answer_tokens", args.max_answer_tokens))
                if value is not None}
    out = export_reader(args.model, args.out, fp16=not args.fp32, **settings)
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"exported {args.model} -> {out} ({size:.1f} MB)")
    return 0

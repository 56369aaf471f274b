"""`qabot train retriever|reranker` (models trained on question -> paragraph pairs with
BM25-mined hard negatives) and `qabot export retriever|reranker` (packaging one for shipping)."""

from __future__ import annotations

import argparse
from pathlib import Path

from qabot.cli.options import progress
from qabot.errors import QabotError


def add_parsers(train, export) -> None:
    _add_retriever(train)
    _add_reranker(train)
    for what in ("retriever", "reranker"):
        ex = export.add_parser(
            what, help=f"package a trained {what} for shipping (fp16 weights)",
            description=f"Copy a trained {what} (the model/ folder of 'qabot train {what}', or "
            "one of its checkpoints) without its training state, with fp16 weights (computed "
            "in fp32 when loaded). Use the result with "
            + ("'qabot-index build --model DIR'." if what == "retriever"
               else "QABOT_RERANKER_MODEL=DIR."))
        ex.add_argument("--model", required=True, type=Path, metavar="DIR")
        ex.add_argument("--out", required=True, type=Path, metavar="DIR")
        ex.add_argument("--fp32", action="store_true", help="keep fp32 weights")
        ex.set_defaults(func=cmd_export)


def _add_retriever(train) -> None:
    tr = train.add_parser(
        "retriever", help="fine-tune the dense retriever on question -> paragraph pairs",
        description="Fine-tune the bundled all-MiniLM-L6-v2 as a bi-encoder on the answerable "
        "questions of SQuAD-format files: each question against its paragraph, with the "
        "other paragraphs of the batch and a BM25-mined hard negative (a paragraph BM25 ranks "
        "high that holds none of the answers) as negatives (sentence-transformers' trainer and "
        "MultipleNegativesRankingLoss). Checkpoints every --checkpoint-every steps; --resume "
        "continues from the newest one.")
    _shared_options(tr, sample="train on N question/paragraph pairs of a seeded permutation",
                    batch="pairs per batch; each question's negatives are the batch's other "
                    "paragraphs and its hard negative (default 32)")
    tr.add_argument("--max-seq-length", type=int, default=256, metavar="TOKENS")
    tr.set_defaults(func=cmd_train_retriever)


def _add_reranker(train) -> None:
    tr = train.add_parser(
        "reranker", help="train the cross-encoder reranker on question/paragraph pairs",
        description="Train a cross-encoder from the shipped reader (its encoder, with a new "
        "one-logit head) on "
        "the answerable questions of SQuAD-format files: each question with its paragraph "
        "(label 1) and with a BM25-mined hard negative (label 0), binary cross-entropy "
        "(sentence-transformers' CrossEncoderTrainer). Checkpoints every --checkpoint-every "
        "steps; --resume continues from the newest one.")
    _shared_options(tr, sample="train on N questions of a seeded permutation (2 pairs each)",
                    batch="pairs per batch (default 32)")
    tr.add_argument("--max-length", type=int, default=320, metavar="TOKENS",
                    help="question + passage tokens (default 320)")
    tr.set_defaults(func=cmd_train_reranker)


def _shared_options(tr, *, sample: str, batch: str) -> None:
    """The options both trainers take (data, output, schedule, checkpoints)."""
    tr.add_argument("--train", action="append", required=True, metavar="FILE[@TITLES]",
                    help="SQuAD-format JSON (repeatable); FILE@TITLES keeps only those articles")
    tr.add_argument("--out", required=True, type=Path, metavar="DIR",
                    help="output folder: model/, checkpoints/, train_summary.json")
    tr.add_argument("--base-model", metavar="DIR",
                    help="start from this model folder (default: the bundled encoder for the "
                    "retriever, the shipped reader for the reranker)")
    tr.add_argument("--sample", type=int, metavar="N", help=sample)
    tr.add_argument("--sample-offset", type=int, default=0, metavar="K",
                    help="start the sample at position K of that permutation")
    tr.add_argument("--epochs", type=float, default=1.0)
    tr.add_argument("--batch-size", type=int, default=32, help=batch)
    tr.add_argument("--lr", type=float, default=2e-5, help="peak learning rate (default 2e-5)")
    tr.add_argument("--checkpoint-every", type=int, default=200, metavar="STEPS")
    tr.add_argument("--max-steps", type=int, help="stop after this many steps")
    tr.add_argument("--seed", type=int, default=13)
    tr.add_argument("--resume", action="store_true",
                    help="continue from the newest checkpoint in --out/checkpoints")
    tr.add_argument("--no-progress", action="store_true")


def _check(args: argparse.Namespace, lengths: tuple[str, ...]) -> None:
    from qabot.training.squad import parse_source

    for spec in args.train:
        try:
            source = parse_source(spec)
        except (ValueError, OSError, KeyError) as exc:
            raise QabotError(f"bad training source {spec!r}: {exc}") from None
        if not Path(source.file).is_file():
            raise QabotError(f"training file not found: {source.file}")
    for name in ("batch_size", "checkpoint_every", *lengths):
        if getattr(args, name) < 1:
            raise QabotError(f"--{name.replace('_', '-')} must be at least 1")
    if args.base_model and not Path(args.base_model).is_dir():
        raise QabotError(f"base model folder not found: {args.base_model}")


def _shared_config(args: argparse.Namespace) -> dict:
    """The ``PairTrainConfig`` fields of ``_shared_options``."""
    return dict(train_files=args.train, out_dir=str(args.out), base_model=args.base_model,
                sample=args.sample, sample_offset=args.sample_offset, epochs=args.epochs,
                batch_size=args.batch_size, learning_rate=args.lr,
                checkpoint_every=args.checkpoint_every, max_steps=args.max_steps,
                seed=args.seed)


def cmd_train_retriever(args: argparse.Namespace) -> int:
    from qabot.training.retriever_training import RetrieverTrainConfig, train_retriever

    _check(args, ("max_seq_length",))
    cfg = RetrieverTrainConfig(**_shared_config(args), max_seq_length=args.max_seq_length)
    summary = train_retriever(cfg, resume=args.resume, progress=progress(args))
    print(f"trained {summary['steps']} steps on {summary['with_hard_negative']} triplets "
          f"(loss {summary['train_loss']}) in {summary['seconds']} s; model in "
          f"{args.out / 'model'}")
    return 0


def cmd_train_reranker(args: argparse.Namespace) -> int:
    from qabot.training.reranker_training import RerankerTrainConfig, train_reranker

    _check(args, ("max_length",))
    cfg = RerankerTrainConfig(**_shared_config(args), max_length=args.max_length)
    summary = train_reranker(cfg, resume=args.resume, progress=progress(args))
    print(f"trained {summary['steps']} steps on {summary['pairs']} pairs "
          f"(loss {summary['train_loss']}) in {summary['seconds']} s; model in "
          f"{args.out / 'model'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from qabot.training.export import export_sentence_model

    out = export_sentence_model(args.model, args.out, fp16=not args.fp32)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    print(f"exported {args.model} to {out} ({size:.1f} MB)")
    return 0

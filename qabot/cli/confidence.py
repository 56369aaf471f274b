"""`qabot train confidence`: the answer and FAQ confidence models."""

from __future__ import annotations

import argparse
from pathlib import Path

from qabot.cli.options import progress
from qabot.errors import QabotError


def add_parsers(train) -> None:
    tc = train.add_parser(
        "confidence", help="learn when the bot is likely right (answer and FAQ confidence)",
        description="Build knowledge bases from SQuAD-format files, ask their questions as the "
        "bot does (and questions whose paragraph or article is left out), label each candidate "
        "answer right or wrong by the support rule, and fit a logistic regression over the "
        "evidence; its operating point is the lowest confidence reaching --target-precision on "
        "held-out articles. The FAQ confidence is fitted on labelled question pairs. Writes one "
        "JSON file (ship it as qabot/models/confidence.json).")
    tc.add_argument("--data", action="append", required=True, metavar="FILE[@TITLES]",
                    help="SQuAD-format JSON (repeatable). The first file gives "
                    "--held-out-articles articles (drawn as 'qabot train reader "
                    "--val-articles' draws them, so a reader trained with the same seed never "
                    "saw them) and distractors; further files give all their (selected) "
                    "articles")
    tc.add_argument("--faq-pairs", required=True, type=Path, metavar="CSV",
                    help="labelled question pairs: question_1,question_2,similar")
    tc.add_argument("--out", type=Path, default=Path(".qabot/train/confidence/confidence.json"),
                    metavar="FILE", help="where to write the model (default: %(default)s)")
    tc.add_argument("--work", type=Path, default=Path(".qabot/train/confidence"), metavar="DIR",
                    help="knowledge bases, indexes and cached examples (default: %(default)s)")
    tc.add_argument("--held-out-articles", type=int, default=8, metavar="N")
    tc.add_argument("--distractors", type=int, default=16, metavar="N",
                    help="other articles of the first file indexed beside them")
    tc.add_argument("--per-fold", type=int, default=400, metavar="N",
                    help="answerable questions asked per fold of the first file")
    tc.add_argument("--per-fold-other", type=int, default=90, metavar="N",
                    help="... and of each further file")
    tc.add_argument("--target-precision", type=float, default=0.9,
                    help="precision the answer operating point reaches (default 0.9)")
    tc.add_argument("--faq-target-precision", type=float, default=0.99,
                    help="precision on the pairs the FAQ operating point reaches (default 0.99: "
                    "the bot picks the nearest of many FAQ questions, which share the "
                    "product's name, so pair precision overstates it)")
    tc.add_argument("--seed", type=int, default=13)
    tc.add_argument("--rebuild", action="store_true",
                    help="ask the questions again instead of reusing the cached examples")
    tc.add_argument("--no-progress", action="store_true")
    tc.set_defaults(func=cmd_train_confidence)


def cmd_train_confidence(args: argparse.Namespace) -> int:
    from qabot.training.confidence import ConfidenceTrainConfig, run
    from qabot.training.squad import parse_source

    for spec in args.data:
        try:
            source = parse_source(spec)
        except (ValueError, OSError, KeyError) as exc:
            raise QabotError(f"bad data source {spec!r}: {exc}") from None
        if not Path(source.file).is_file():
            raise QabotError(f"data file not found: {source.file}")
    if not args.faq_pairs.is_file():
        raise QabotError(f"question-pairs file not found: {args.faq_pairs}")
    for name in ("target_precision", "faq_target_precision"):
        if not 0.0 < getattr(args, name) < 1.0:
            raise QabotError(f"--{name.replace('_', '-')} must be between 0 and 1")
    cfg = ConfidenceTrainConfig(
        sources=args.data, out=args.out, work_dir=args.work,
        held_out_articles=args.held_out_articles, distractors=args.distractors,
        per_fold=args.per_fold, per_fold_other=args.per_fold_other,
        target_precision=args.target_precision, faq_pairs=args.faq_pairs,
        faq_target_precision=args.faq_target_precision, seed=args.seed)
    model = run(cfg, progress=progress(args), rebuild=args.rebuild)
    v, f = model.answer.info["validation"], model.faq.info["validation"]
    print(f"answer confidence: operating point {model.answer.threshold:.4f}: precision "
          f"{v['precision']:.1%}, coverage {v['coverage']:.1%} of {v['examples']} held-out "
          f"candidate answers")
    print(f"FAQ confidence: operating point {model.faq.threshold:.4f} (cosine "
          f"{f['cosine']:.3f}): precision {f['precision']:.1%}, recall {f['recall']:.1%} of "
          f"{f['similar']} similar pairs")
    print(f"written to {args.out}")
    return 0

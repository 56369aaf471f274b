"""`qabot train confidence` (the answer and FAQ confidence models) and `qabot train tiers`
(the related-tier model, fitted on help centres)."""

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

    tt = train.add_parser(
        "tiers", help="fit the related tier on help centres (when to show a related passage)",
        description="Index each help centre, ask its questions as the bot does, and fit a "
        "logistic regression over the tier evidence (the answer confidence, retrieval "
        "similarity and margin between articles, reader/retriever agreement, title and excerpt "
        "overlap, words the knowledge base never uses, ...) that predicts whether the related "
        "reply holds the answer. Each question file is one fold (files of one help centre must "
        "cover disjoint articles); the operating point is the lowest probability at which, out "
        "of fold, at most --unanswerable-share of the unanswerable questions get a related "
        "reply. Writes a copy of the confidence file with the model added (ship it as "
        "qabot/models/confidence.json). Run it again after 'qabot train confidence'.")
    tt.add_argument("--help-centre", action="append", required=True, nargs="+",
                    metavar=("KB_DIR", "QUESTIONS"),
                    help="a knowledge-base folder and its question files (the format of "
                    "'qabot eval support'); repeatable")
    tt.add_argument("--confidence", type=Path, metavar="FILE",
                    help="the confidence file to extend (default: the shipped one)")
    tt.add_argument("--out", type=Path, default=Path(".qabot/train/tiers/confidence.json"),
                    metavar="FILE", help="where to write it (default: %(default)s)")
    tt.add_argument("--work", type=Path, default=Path(".qabot/train/tiers"), metavar="DIR",
                    help="indexes and cached examples (default: %(default)s; delete it to "
                    "ask the questions again)")
    tt.add_argument("--unanswerable-share", type=float, default=0.25,
                    help="the most unanswerable questions that may get a related reply, as a "
                    "share (default 0.25)")
    tt.add_argument("--no-progress", action="store_true")
    tt.set_defaults(func=cmd_train_tiers)


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


def cmd_train_tiers(args: argparse.Namespace) -> int:
    from qabot.training.tiers import TierTrainConfig, run

    sources = []
    for kb, *files in args.help_centre:
        if not files:
            raise QabotError(f"--help-centre {kb}: give its question files after the folder")
        if not Path(kb).is_dir():
            raise QabotError(f"knowledge-base folder not found: {kb}")
        for f in files:
            if not Path(f).is_file():
                raise QabotError(f"question file not found: {f}")
        sources.append((Path(kb), [Path(f) for f in files]))
    if not 0.0 <= args.unanswerable_share <= 1.0:
        raise QabotError(f"--unanswerable-share must be between 0 and 1, got "
                         f"{args.unanswerable_share}")
    if args.confidence is not None and not args.confidence.is_file():
        raise QabotError(f"confidence file not found: {args.confidence}")
    cfg = TierTrainConfig(sources=sources, confidence_in=args.confidence, out=args.out,
                          work_dir=args.work, unanswerable_share=args.unanswerable_share)
    try:
        model, report = run(cfg, progress=progress(args))
    except ValueError as exc:
        raise QabotError(str(exc)) from None
    related = model.tiers.related
    print(f"related tier: operating point {related.threshold:.4f} "
          f"({related.info['resolving']} of {related.info['examples']} related replies hold "
          f"the answer)")
    for fold, v in report["at_point"].items():
        print(f"  {fold}: resolved {v['resolved']} of {v['answerable']} (answered "
              f"{v['answered']}, misleading {v['misleading']}, related {v['related']}); "
              f"unanswerable: answered {v['unanswerable_answered']}, related "
              f"{v['unanswerable_related']} of {v['unanswerable']} (out of fold)")
    print(f"written to {args.out}")
    return 0

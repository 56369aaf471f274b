"""The model commands of the qabot CLI: train, eval and export of the reader and the intents."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from qabot.errors import QabotError


def add_commands(sub) -> dict:
    """Add ``train``, ``eval`` and ``export`` to the CLI; returns their sub-parser groups."""
    train = sub.add_parser("train", help="train a model").add_subparsers(
        dest="what", required=True, metavar="MODEL")
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
    tr.add_argument("--device", default="auto",
                    help="torch device: auto (CUDA when available, else CPU), cpu, cuda, ...")
    tr.add_argument("--resume", action="store_true", help="continue from --out/checkpoint")
    tr.add_argument("--no-progress", action="store_true")

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

    evaluate = sub.add_parser("eval", help="evaluate a model").add_subparsers(
        dest="what", required=True, metavar="MODEL")
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
                    help="longest answer in tokens (default: the model's, 30)")
    er.add_argument("--json", action="store_true", help="print the metrics as JSON")
    er.add_argument("--no-progress", action="store_true")
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
    ep = evaluate.add_parser(
        "pipeline", help="retrieval + reader end to end on a SQuAD-format file",
        description="Index the file's contexts as a knowledge base (one Markdown file per "
        "article, the real indexer), ask every answerable question, and report retrieval "
        "recall@1/5/20 and MRR for each retrieval mode, the reader's EM/F1 given the gold "
        "paragraph, end-to-end EM/F1, the answer rate and accuracy at the answer threshold, "
        "and the coverage-accuracy curve over the threshold (curve.csv, curve.png).")
    ep.add_argument("--data", required=True, metavar="FILE", help="SQuAD-format JSON")
    ep.add_argument("--titles", metavar="FILE[:KEY]", help="only these articles")
    ep.add_argument("--limit", type=int, help="only the first N questions")
    ep.add_argument("--retrieval", choices=("dense", "bm25", "hybrid"), default="dense",
                    help="the retrieval the pipeline uses (recall is reported for all three)")
    ep.add_argument("--top-k", type=int, default=5, help="passages read per question")
    ep.add_argument("--chunk-tokens", type=int, help="passage size (default 160)")
    ep.add_argument("--overlap", type=int, help="passage overlap (default 32)")
    ep.add_argument("--answer-threshold", type=float, default=15.0,
                    help="fused score an answer needs (default 15, the bot's)")
    ep.add_argument("--target-precision", type=float, default=0.8,
                    help="report the threshold whose accuracy when answering reaches this")
    ep.add_argument("--out", type=Path, metavar="DIR",
                    help="write summary.json, curve.csv, curve.png here")
    ep.add_argument("--json", action="store_true", help="print the summary as JSON")
    ep.add_argument("--no-progress", action="store_true")
    ef = evaluate.add_parser(
        "faq", help="FAQ matching on labelled question pairs (similar / not similar)",
        description="Embed both questions of every pair (CSV: question_1, question_2, similar) "
        "and call a pair similar when their cosine similarity reaches the threshold, as the "
        "FAQ matcher does: accuracy, precision and recall at --threshold, and the threshold "
        "with the best accuracy.")
    ef.add_argument("--pairs", required=True, metavar="CSV")
    ef.add_argument("--threshold", type=float, default=0.75,
                    help="the FAQ threshold to report (default 0.75, the bot's)")
    ef.add_argument("--json", action="store_true")
    export = sub.add_parser("export", help="export an artifact").add_subparsers(
        dest="what", required=True, metavar="WHAT")
    ex = export.add_parser("reader", help="package a trained reader for shipping (fp16)")
    ex.add_argument("--model", required=True, type=Path, metavar="DIR",
                    help="a trained reader folder (the model/ of 'qabot train reader')")
    ex.add_argument("--out", required=True, type=Path, metavar="DIR")
    ex.add_argument("--fp32", action="store_true", help="keep fp32 weights")
    ex.add_argument("--null-threshold", type=float,
                    help="abstain when no-answer score - best span score exceeds this")
    ex.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"),
                    help="the inference precision the reader uses by default")
    return {"export": export}


def run(args: argparse.Namespace) -> int:
    if args.command == "export":
        return cmd_export_reader(args)
    if args.what == "faq":
        return cmd_eval_faq(args)
    if args.what == "pipeline":
        return cmd_eval_pipeline(args)
    if args.what == "intents":
        return cmd_train_intents(args) if args.command == "train" else cmd_eval_intents(args)
    return cmd_train_reader(args) if args.command == "train" else cmd_eval_reader(args)


def _titles(spec: str | None) -> list[str] | None:
    from qabot.training.squad import read_title_list

    return read_title_list(spec) if spec else None


def cmd_train_reader(args: argparse.Namespace) -> int:
    from qabot.training.reader_training import ReaderTrainConfig, train_reader
    from qabot.training.squad import parse_source

    for spec in args.train:
        try:
            source = parse_source(spec)
        except (OSError, ValueError, KeyError) as exc:
            raise QabotError(f"bad training source {spec!r}: {exc}") from None
        if not Path(source.file).is_file():
            raise QabotError(f"training file not found: {source.file}")
    cfg = ReaderTrainConfig(
        train_files=args.train, out_dir=str(args.out), titles=_titles(args.titles),
        base_model=args.base_model, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.lr, max_length=args.max_length, stride=args.stride, seed=args.seed,
        checkpoint_every=args.checkpoint_every, max_steps=args.max_steps, limit=args.limit,
        negatives_per_question=args.negatives_per_question,
        same_article_negatives=args.same_article_negatives, val_articles=args.val_articles,
        sample=args.sample, sample_offset=args.sample_offset, device=args.device,
    )
    summary = train_reader(cfg, resume=args.resume,
                           progress=not args.no_progress and sys.stderr.isatty())
    print(f"trained {summary['steps']} steps on {summary['features']} windows "
          f"({summary['answerable']} answerable, {summary['unanswerable']} unanswerable "
          f"questions) in {summary['seconds']} s; model in {args.out / 'model'}")
    return 0


def cmd_eval_reader(args: argparse.Namespace) -> int:
    from qabot.reader.model import Reader
    from qabot.training.reader_eval import evaluate_reader

    if not Path(args.data).is_file():
        raise QabotError(f"data file not found: {args.data}")
    reader = Reader(args.model, precision=args.precision)
    if args.max_answer_tokens:
        reader.settings = replace(reader.settings, max_answer_tokens=args.max_answer_tokens)
    metrics = evaluate_reader(reader, args.data, titles=_titles(args.titles), limit=args.limit,
                              progress=not args.no_progress and sys.stderr.isatty())
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


def cmd_train_intents(args: argparse.Namespace) -> int:
    from qabot.training.intent_training import IntentTrainConfig, train_intents

    cfg = IntentTrainConfig(
        data=args.data, out_dir=str(args.out), mode=args.mode, classifier=args.classifier,
        c=args.c, val_data=args.val, threshold_objective=args.threshold_objective,
        per_class=args.per_class, seed=args.seed, epochs=args.epochs, patience=args.patience,
        learning_rate=args.lr, batch_size=args.batch_size, init_head=not args.no_head_init,
    )
    meta = train_intents(cfg, progress=not args.no_progress and sys.stderr.isatty())
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


def cmd_export_reader(args: argparse.Namespace) -> int:
    from qabot.training.export import export_reader

    settings = {key: value for key, value in (("null_threshold", args.null_threshold),
                                              ("precision", args.precision))
                if value is not None}
    out = export_reader(args.model, args.out, fp16=not args.fp32, **settings)
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"exported {args.model} -> {out} ({size:.1f} MB)")
    return 0


def cmd_eval_pipeline(args: argparse.Namespace) -> int:
    import tempfile

    from qabot.evaluation.pipeline import run_pipeline_eval, write_curve

    if not Path(args.data).is_file():
        raise QabotError(f"data file not found: {args.data}")
    with tempfile.TemporaryDirectory(prefix="qabot-eval-") as work:
        summary = run_pipeline_eval(
            args.data, Path(work), titles=_titles(args.titles), limit=args.limit,
            mode=args.retrieval, top_k=args.top_k, chunk_tokens=args.chunk_tokens,
            overlap=args.overlap, answer_threshold=args.answer_threshold,
            target_precision=args.target_precision,
            progress=not args.no_progress and sys.stderr.isatty())
    if args.out:
        write_curve(summary["curve"], args.out)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "curve"}, indent=2))
        return 0
    print(f"{summary['questions']} questions, {summary['passages']} passages, "
          f"retrieval {summary['retrieval_mode']}, top {summary['top_k']}")
    for mode, r in summary["retrieval"].items():
        print(f"  {mode:<7} recall@1 {r['recall@1']:6.2f}  @5 {r['recall@5']:6.2f}  "
              f"@20 {r['recall@20']:6.2f}  MRR {r['mrr@20']:.4f}")
    g, e, t = summary["reader_given_gold"], summary["end_to_end"], summary["at_threshold"]
    print(f"reader given the gold paragraph: EM {g['exact']:.2f}  F1 {g['f1']:.2f}")
    print(f"end to end (always answering):   EM {e['exact']:.2f}  F1 {e['f1']:.2f}")
    print(f"at threshold {t['answer_threshold']}: answer rate {t['answer_rate']:.2f}%, "
          f"accuracy when answering {t['accuracy_when_answering']:.2f}%")
    target = summary["threshold_for_target"]
    print(f"threshold for {summary['target_precision']:.0%} accuracy: " + (
        f"{target['threshold']} (coverage {target['coverage']:.1%})" if target
        else "not reached"))
    if args.out:
        print(f"curve: {args.out / 'curve.csv'}, {args.out / 'curve.png'}")
    return 0


def cmd_eval_faq(args: argparse.Namespace) -> int:
    from indexer.embedding import SentenceTransformerEmbedder
    from qabot.evaluation.faq_pairs import evaluate_pairs, read_pairs

    first, second, labels = read_pairs(args.pairs)
    metrics = evaluate_pairs(first, second, labels, SentenceTransformerEmbedder(),
                             args.threshold)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    a, b = metrics["at_threshold"], metrics["best"]
    print(f"{metrics['pairs']} pairs ({metrics['similar']} similar)")
    for label, m in (("at threshold", a), ("best threshold", b)):
        print(f"{label} {m['threshold']:.3f}: accuracy {m['accuracy']:.4f}, precision "
              f"{m['precision']:.4f}, recall {m['recall']:.4f}")
    return 0

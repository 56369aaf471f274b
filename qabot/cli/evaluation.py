"""`qabot eval pipeline` (retrieval + reader end to end) and `qabot eval faq`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qabot.cli.options import progress, titles
from qabot.errors import QabotError


def add_parsers(evaluate) -> None:
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
    ep.set_defaults(func=cmd_eval_pipeline)

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
    ef.set_defaults(func=cmd_eval_faq)


def cmd_eval_pipeline(args: argparse.Namespace) -> int:
    import tempfile

    from qabot.evaluation.pipeline import run_pipeline_eval, write_curve

    if not Path(args.data).is_file():
        raise QabotError(f"data file not found: {args.data}")
    with tempfile.TemporaryDirectory(prefix="qabot-eval-") as work:
        summary = run_pipeline_eval(
            args.data, Path(work), titles=titles(args.titles), limit=args.limit,
            mode=args.retrieval, top_k=args.top_k, chunk_tokens=args.chunk_tokens,
            overlap=args.overlap, answer_threshold=args.answer_threshold,
            target_precision=args.target_precision,
            progress=progress(args))
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

"""`qabot eval pipeline` (retrieval + reader end to end), `qabot eval support` (the whole bot
on a support question set) and `qabot eval faq`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qabot.cli.options import progress, titles
from qabot.errors import QabotError


class ShippedNumbers(argparse.HelpFormatter):
    """Help texts that state the shipped models' operating points: ``{faq_cosine}`` and
    ``{answer_confidence}`` in a help text are filled in when the help is shown, by the
    functions the commands themselves use (they read the confidence model's JSON: no model
    is loaded, and nothing is read unless the help is asked for)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = super()._get_help_string(action) or ""
        for key, number in (("faq_cosine", lambda: f"{_faq_cosine():.3f}"),
                            ("answer_confidence", lambda: f"{_answer_confidence():.4f}")):
            token = "{" + key + "}"
            if token in text:
                try:
                    value = number()
                except Exception as exc:  # a help text must never fail
                    value = f"(unknown: {exc})".replace("%", "%%")
                text = text.replace(token, value)
        return text


def add_parsers(evaluate) -> None:
    ep = evaluate.add_parser(
        "pipeline", help="retrieval + reader end to end on a SQuAD-format file",
        formatter_class=ShippedNumbers,
        description="Index the file's contexts as a knowledge base (one Markdown file per "
        "article, the real indexer), ask every answerable question, and report retrieval "
        "recall@1/5/20 and MRR for each retrieval mode, the reader's EM/F1 given the gold "
        "paragraph, end-to-end EM/F1, the answer rate and accuracy at the answer threshold, "
        "and the coverage-accuracy curve over the threshold (curve.csv, curve.png).")
    ep.add_argument("--data", required=True, metavar="FILE", help="SQuAD-format JSON")
    ep.add_argument("--titles", metavar="FILE[:KEY]", help="only these articles")
    ep.add_argument("--limit", type=int, help="only the first N questions")
    ep.add_argument("--config", metavar="FILE",
                    help="TOML settings file (default: $QABOT_CONFIG): the bot's retrieval, "
                    "top_k and reader are measured unless given here")
    ep.add_argument("--retrieval", choices=("dense", "bm25", "hybrid"),
                    help="the retrieval the pipeline uses (default: the bot's setting; recall "
                    "is reported for all three)")
    ep.add_argument("--top-k", type=int,
                    help="passages read per question (default: the bot's setting)")
    ep.add_argument("--chunk-tokens", type=int, help="passage size (default 160)")
    ep.add_argument("--overlap", type=int, help="passage overlap (default 32)")
    ep.add_argument("--answer-threshold", type=float, default=15.0,
                    help="the fused score (the reader's span score plus the weighted "
                    "retrieval cosine) an answer needs to count as answered in this "
                    "evaluation's answer rate and accuracy (default %(default)g). The bot "
                    "itself uses no score threshold: it answers when its answer confidence (a "
                    "probability) reaches answer_confidence, by default the shipped confidence "
                    "model's operating point, {answer_confidence}")
    ep.add_argument("--target-precision", type=float, default=0.8,
                    help="report the threshold whose accuracy when answering reaches this")
    ep.add_argument("--out", type=Path, metavar="DIR",
                    help="write summary.json, curve.csv, curve.png here")
    ep.add_argument("--json", action="store_true", help="print the summary as JSON")
    ep.add_argument("--no-progress", action="store_true")
    ep.set_defaults(func=cmd_eval_pipeline)

    es = evaluate.add_parser(
        "support", help="the whole bot on a support question set (resolved, misleading, "
        "right, wrong, abstained)",
        description="Index the knowledge base (or update its index), then ask every question "
        "of the file in a fresh conversation with the bot as configured, and report: resolved "
        "(an answer, FAQ answer or related reply holding an answer string within 700 "
        "characters), misleading (an answer or FAQ answer that does not resolve it), related "
        "replies and how many resolved; correct (an answer or FAQ answer containing an answer "
        "string), wrong (an answer without one), abstained; unanswerable questions answered, "
        "given a related reply, abstained on; source@1/@5; reply length and latency p50/p95; "
        "what each reply tier delivers; the coverage-precision curve over the answer "
        "confidence and the resolved-if-shown curve over the reply confidence "
        "(questions.csv, curve.csv, curve_related.csv, curve.png, summary.json in --out). The "
        "history goes to a temporary database.")
    es.add_argument("--kb", required=True, type=Path, metavar="DIR",
                    help="the knowledge-base folder")
    es.add_argument("--questions", required=True, type=Path, metavar="FILE",
                    help="question file (JSON: 'questions' with q/article/answers, "
                    "'unanswerable')")
    es.add_argument("--index", type=Path, metavar="DIR", help="index folder (default: "
                    ".qabot/eval-index/<kb folder>-<hash>, updated on each run)")
    es.add_argument("--config", metavar="FILE",
                    help="TOML settings file (default: $QABOT_CONFIG; QABOT_* env vars "
                    "override it)")
    es.add_argument("--target-precision", type=float, default=0.9,
                    help="report the lowest confidence threshold reaching this precision "
                    "(default 0.9)")
    es.add_argument("--out", type=Path, metavar="DIR",
                    help="write questions.csv, curve.csv, curve_related.csv, curve.png, "
                    "summary.json here")
    es.add_argument("--json", action="store_true", help="print the summary as JSON")
    es.add_argument("--no-progress", action="store_true")
    es.set_defaults(func=cmd_eval_support)

    ef = evaluate.add_parser(
        "faq", help="FAQ matching on labelled question pairs (similar / not similar)",
        formatter_class=ShippedNumbers,
        description="Embed both questions of every pair (CSV: question_1, question_2, similar) "
        "and call a pair similar when their cosine similarity reaches the threshold, as the "
        "FAQ matcher does: accuracy, precision and recall at --threshold, and the threshold "
        "with the best accuracy.")
    ef.add_argument("--pairs", required=True, metavar="CSV")
    ef.add_argument("--threshold", type=float,
                    help="the cosine threshold to report (default: the cosine of the shipped "
                    "FAQ confidence's operating point, {faq_cosine})")
    ef.add_argument("--json", action="store_true")
    ef.set_defaults(func=cmd_eval_faq)


def cmd_eval_pipeline(args: argparse.Namespace) -> int:
    import tempfile

    from qabot.config import load_settings
    from qabot.evaluation.pipeline import run_pipeline_eval, write_curve

    if not Path(args.data).is_file():
        raise QabotError(f"data file not found: {args.data}")
    settings = load_settings(args.config)
    with tempfile.TemporaryDirectory(prefix="qabot-eval-") as work:
        summary = run_pipeline_eval(
            args.data, Path(work), titles=titles(args.titles), limit=args.limit,
            mode=args.retrieval, top_k=args.top_k, chunk_tokens=args.chunk_tokens,
            overlap=args.overlap, answer_threshold=args.answer_threshold,
            target_precision=args.target_precision,
            settings=settings, progress=progress(args))
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


def default_eval_index(kb: Path) -> Path:
    """.qabot/eval-index/<kb folder>-<8 hex of its absolute path>: one per knowledge base, so
    a rerun updates its index instead of rebuilding it."""
    import hashlib

    path = kb.resolve()
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    return Path(".qabot") / "eval-index" / f"{path.name}-{digest}"


def _built_with_another_model(index: Path, embedder) -> bool:
    from indexer.manifest import read_manifest

    if not (index / "manifest.json").is_file():
        return False
    return read_manifest(index).model_name != embedder.model_name


def cmd_eval_support(args: argparse.Namespace) -> int:
    import tempfile

    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.config import load_settings
    from qabot.evaluation.support import (
        load_questions,
        run_support_eval,
        summarize,
        write_outputs,
    )

    questions = load_questions(args.questions)  # a bad file fails before any model loads
    if not 0.0 <= args.target_precision <= 1.0:
        raise QabotError(f"--target-precision: expected a share from 0 to 1, "
                         f"got {args.target_precision}")
    index = args.index or default_eval_index(args.kb)
    show = progress(args)
    embedder = SentenceTransformerEmbedder()
    # the default index is a cache: one built with another model is rebuilt, not an error
    rebuild = args.index is None and _built_with_another_model(index, embedder)
    build(args.kb, index, embedder, rebuild=rebuild, progress=show)
    with tempfile.TemporaryDirectory(prefix="qabot-eval-") as work:
        from qabot.app import build_engine

        settings = load_settings(args.config, index_dir=index, kb_dir=args.kb,
                                 database_url=f"sqlite:///{Path(work) / 'history.sqlite'}")
        engine = build_engine(settings, warm=True)
        try:
            results = run_support_eval(engine, questions, progress=show)
        finally:
            engine.history.close()
    summary = summarize(results, target_precision=args.target_precision)
    summary.update({"knowledge_base": str(args.kb), "index": str(index),
                    "retrieval_mode": settings.retrieval, "top_k": settings.top_k})
    paths = write_outputs(results, summary, args.out) if args.out else {}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    n, u = summary["questions"], summary["unanswerable"]
    print(f"{n} answerable questions: {summary['correct']} correct, {summary['wrong']} wrong, "
          f"{summary['abstained']} abstained; source@1 {summary['source_at_1']}, "
          f"source@5 {summary['source_at_5']}")
    print(f"{u} unanswerable questions: {summary['unanswerable_abstained']} abstained")
    print(support_line(summary))
    precision = summary["precision"]
    print(f"precision {'-' if precision is None else f'{precision:.1%}'}, coverage "
          f"{summary['coverage']:.1%}; latency p50 {summary['p50_ms']} ms, p95 "
          f"{summary['p95_ms']} ms (retrieval {settings.retrieval}, top {settings.top_k})")
    point = summary["operating_point"]
    print(f"operating point for {args.target_precision:.0%} precision: " + (
        f"answer confidence {point['threshold']:g} (coverage {point['coverage']:.1%}, "
        f"precision {point['precision']:.1%})" if point else "not reached on this set"))
    if paths:
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def support_line(summary: dict) -> str:
    """What a support team counts, in one line."""
    tiers = summary["tiers"]
    by_kind = ", ".join(f"{k} {tiers[k]['resolved']}" for k in ("answer", "faq", "related"))
    return (f"resolved {summary['resolved']} of {summary['questions']} ({by_kind}), misleading "
            f"{summary['misleading']}; unanswerable: answered {summary['unanswerable_answered']}"
            f", related {summary['unanswerable_related']} of {summary['unanswerable']}; reply "
            f"length p50 {summary['reply_chars_p50']:g} / p95 {summary['reply_chars_p95']:g} "
            "chars")


def cmd_eval_faq(args: argparse.Namespace) -> int:
    from indexer.embedding import SentenceTransformerEmbedder
    from qabot.evaluation.faq_pairs import evaluate_pairs, read_pairs

    first, second, labels = read_pairs(args.pairs)
    metrics = evaluate_pairs(first, second, labels, SentenceTransformerEmbedder(),
                             args.threshold if args.threshold is not None
                             else _faq_cosine())
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    a, b = metrics["at_threshold"], metrics["best"]
    print(f"{metrics['pairs']} pairs ({metrics['similar']} similar)")
    for label, m in (("at threshold", a), ("best threshold", b)):
        print(f"{label} {m['threshold']:.3f}: accuracy {m['accuracy']:.4f}, precision "
              f"{m['precision']:.4f}, recall {m['recall']:.4f}")
    return 0


def _faq_cosine() -> float:
    """The cosine at which the shipped FAQ confidence reaches its operating point."""
    from qabot.dialogue.confidence import load_confidence

    return float(load_confidence().faq.info["validation"]["cosine"])


def _answer_confidence() -> float:
    """The shipped answer confidence's operating point: the bot answers at or above it unless
    the settings' ``answer_confidence`` says otherwise."""
    from qabot.dialogue.confidence import load_confidence

    return load_confidence().answer.threshold

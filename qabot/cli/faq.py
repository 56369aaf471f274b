"""`qabot faq add|list`: operator answers in the knowledge base's managed FAQ sheet."""

from __future__ import annotations

import argparse
import getpass
import json
from dataclasses import asdict
from pathlib import Path

from qabot.cli.options import settings_from


def add_parsers(sub, common) -> None:
    faq = sub.add_parser(
        "faq", help="operator answers that teach the bot",
        description="Curated answers in the knowledge base's managed FAQ sheet "
        "(KB_DIR/operator-answers.csv), indexed like any FAQ sheet.").add_subparsers(
        dest="what", required=True, metavar="ACTION")
    kb = argparse.ArgumentParser(add_help=False)
    kb.add_argument("--kb", type=Path, metavar="DIR",
                    help="knowledge-base folder (default: $QABOT_KB_DIR or kb_dir in --config)")
    fa = faq.add_parser(
        "add", parents=[common, kb], help="add an answer and reindex",
        description="Append a question and its answer (and other phrasings of the question, "
        "one row each) to KB_DIR/operator-answers.csv, then reindex the knowledge base "
        "incrementally: the bot answers the question with this answer.")
    fa.add_argument("--question", required=True, help="the question users ask")
    fa.add_argument("--answer", required=True, help="the curated answer (at most 4,000 "
                    "characters)")
    fa.add_argument("--also", action="append", default=[], metavar="QUESTION",
                    help="another phrasing of the question (repeat for more)")
    fa.add_argument("--category", help="a category for the answer")
    fa.add_argument("--author", help="who wrote it (default: the OS user)")
    fa.set_defaults(func=cmd_add)
    fl = faq.add_parser("list", parents=[common, kb], help="the operator answers")
    fl.add_argument("--json", action="store_true", help="one JSON array of the rows")
    fl.set_defaults(func=cmd_list)


def cmd_add(args: argparse.Namespace) -> int:
    from qabot.app import add_operator_answers

    settings = settings_from(args)
    history = _existing_history(settings.database_url)
    try:
        taught = add_operator_answers(settings, args.question, args.answer, also=args.also,
                                      category=args.category, author=args.author or _os_user(),
                                      history=history)
    finally:
        if history is not None:
            history.close()
    print(f"added {len(taught.answers)} question(s) to {taught.sheet}:")
    for answer in taught.answers:
        print(f"  {answer.question}")
    if taught.resolved:
        print(f"{taught.resolved} unanswered question(s) in the history are answered now")
    print(taught.summary)
    print(f"index {settings.index_dir}: generation {taught.generation}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from qabot.curation import SHEET_NAME, list_answers

    settings = settings_from(args)
    if settings.kb_dir is not None and not settings.kb_dir.is_dir():
        from qabot.errors import OperatorAnswerError

        raise OperatorAnswerError(f"the knowledge-base folder {settings.kb_dir} does not exist")
    answers = list_answers(settings.kb_dir)
    if args.json:
        print(json.dumps([asdict(a) for a in answers], ensure_ascii=False, indent=2))
        return 0
    if not answers:
        print(f"no operator answers yet ({settings.kb_dir / SHEET_NAME})")
        return 0
    rows = [("created_at", "author", "category", "question", "answer")]
    rows += [(a.created_at or "", a.author or "", a.category or "", _short(a.question, 50),
              _short(a.answer, 60)) for a in answers]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)),
                         row[4]]).rstrip())
    return 0


def _existing_history(url: str):
    """The history database the bot writes, to take the answered questions off its unanswered
    list; None when it is a SQLite file that does not exist yet (nothing to mark)."""
    from qabot.history import History

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    return History.open(url)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        return None

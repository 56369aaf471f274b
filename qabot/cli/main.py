"""The ``qabot`` parser and entry point: each command group adds its own sub-commands and binds
each to its function (``set_defaults(func=...)``); ``main`` runs it. Errors a user can fix (any
qabot or indexer error) print one line on stderr and exit 1; bad flags exit 2 (argparse)."""

from __future__ import annotations

import argparse
import os
import sys

from indexer.cli import SubcommandParser
from qabot import __version__
from qabot.cli import chat, confidence, evaluation, faq, history, intents, reader, retriever
from qabot.cli.options import common_parser
from qabot.errors import Error

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qabot",
        description="Customer-support question answering over your own help center. "
        "Index a knowledge base with 'qabot-index build KB_DIR', then 'qabot chat'.",
    )
    parser.add_argument("--version", action="version", version=f"qabot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=SubcommandParser)  # errors with their own usage
    common = common_parser()
    chat.add_parsers(sub, common)
    train = sub.add_parser("train", help="train a model").add_subparsers(
        dest="what", required=True, metavar="MODEL")
    evaluate = sub.add_parser("eval", help="evaluate a model").add_subparsers(
        dest="what", required=True, metavar="MODEL")
    export = sub.add_parser("export", help="export an artifact").add_subparsers(
        dest="what", required=True, metavar="WHAT")
    history.add_parsers(sub, common, export)
    faq.add_parsers(sub, common)
    reader.add_parsers(train, evaluate, export)
    intents.add_parsers(train, evaluate)
    confidence.add_parsers(train)
    retriever.add_parsers(train, export)
    evaluation.add_parsers(evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Error as exc:  # qabot's and the indexer's errors
        print(f"qabot: error: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as exc:  # unreadable or malformed data files
        print(f"qabot: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qabot: interrupted", file=sys.stderr)
        return 130

"""qabot: the chat bot's command line.

The knowledge-base indexer is ``qabot-index`` (package ``indexer``). The bot's own commands
(chat, ask, telegram, train, eval, export) are added by the reader, intent and dialogue work;
until then this command reports its version and points to the indexer.
"""

from __future__ import annotations

import argparse
import sys

from qabot import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="qabot",
        description="Customer-support question answering over your own help center. "
        "Index a knowledge base with 'qabot-index build KB_DIR'.",
    )
    parser.add_argument("--version", action="version", version=f"qabot {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""qabot's command line: ``main`` (the parser and the error handling) and one module per
command group: ``chat`` (chat, ask, telegram, health), ``history`` (history, export feedback),
``reader``, ``intents`` and ``evaluation`` (the model commands: train, eval, export)."""

from qabot.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

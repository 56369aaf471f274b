"""Curation: what operators add to the knowledge base (the managed FAQ sheet of their answers)."""

from qabot.curation.sheet import (
    MAX_ANSWER_CHARS,
    SHEET_NAME,
    OperatorAnswer,
    append_answers,
    list_answers,
    new_answers,
)

__all__ = ["MAX_ANSWER_CHARS", "SHEET_NAME", "OperatorAnswer", "append_answers", "list_answers",
           "new_answers"]

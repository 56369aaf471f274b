"""The README's quickstart session is what the shipped bot says: its questions, asked in one
conversation on the example knowledge base, get the replies the README shows."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.model


def readme_session() -> list[tuple[str, str]]:
    """(what the user typed, what the bot printed) for each turn of the quickstart block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ make run\n(.*?)```", text, re.S).group(1)
    turns = re.findall(r"^you> ([^\n]*)\nbot> (.*?)(?=^you> |\Z)", block, re.S | re.M)
    assert len(turns) >= 5, "the README's quickstart session was not found"
    return [(q.strip(), a) for q, a in turns]


def normal(text: str) -> str:
    """Whitespace folded; the console's marks around the candidate and its label dropped."""
    text = text.replace("«", "").replace("»", "").replace("Related (not certain):", "")
    return " ".join(text.split())


def test_the_quickstart_session_is_what_the_bot_says(example_index, tmp_path):
    from qabot.app import build_engine
    from qabot.config import load_settings

    # `make run`: the example KB, default settings, the shipped models, and a new history (the
    # greeting a conversation gets depends on its number: the shared engine's history has many)
    engine = build_engine(load_settings(env={}, index_dir=example_index,
                                        database_url=f"sqlite:///{tmp_path / 'h.sqlite'}"))
    conversation = engine.start("console", "me")
    kinds = []
    for question, shown in readme_session():
        reply = engine.respond(conversation, question)
        kinds.append(reply.kind)
        assert normal(reply.text) in normal(shown), (question, reply.kind, reply.text)
        if reply.kind == "related":
            assert shown.startswith("Related (not certain):")
    assert kinds == ["template", "faq", "related", "related", "fallback", "handoff"]

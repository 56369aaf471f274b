"""Pure helpers of the engine: follow-up detection and answer snippets."""

from __future__ import annotations

import pytest

from qabot.dialogue.followup import contextual_query, is_follow_up
from qabot.dialogue.snippets import sentence_around


@pytest.mark.parametrize("text", ["and how much does it cost?", "what about on Android?",
                                  "And Team?", "is it free?", "on iPad?", "how about the web app",
                                  "what if I lose my phone?", "does that work offline?"])
def test_follow_ups(text):
    assert is_follow_up(text)


@pytest.mark.parametrize("text", ["How do I enable offline mode on Android?", "",
                                  "How many devices can I use on the Free plan?",
                                  "Where can I download my invoices as PDF files?"])
def test_standalone_questions(text):
    assert not is_follow_up(text)


def test_contextual_query():
    assert contextual_query("and Team?", "How much is Pro? ") == "How much is Pro? and Team?"
    assert contextual_query("and Team?", None) == "and Team?"


def test_sentence_around_a_span():
    text = ("# Free plan\n\nThe app keeps your 50 most recently opened notes. Other notes need a "
            "connection.\n\n1. Open the notebook.\n2. Select **Make available offline**.")
    i = text.index("50")
    a, b = sentence_around(text, i, i + 2)
    assert text[a:b] == "The app keeps your 50 most recently opened notes."
    i = text.index("Make")
    a, b = sentence_around(text, i, i + 4)
    assert text[a:b] == "Select **Make available offline**."  # list number dropped
    wrapped = ("Zulip lets you delete messages\nif your organization allows it. Only server\n"
               "administrators can restore them.\n- a list item\n\nNext paragraph.")
    i = wrapped.index("restore")
    a, b = sentence_around(wrapped, i, i + 7)  # a hard-wrapped line break is only a space
    assert wrapped[a:b] == "Only server\nadministrators can restore them."
    i = wrapped.index("delete")
    a, b = sentence_around(wrapped, i, i + 6)
    assert wrapped[a:b] == "Zulip lets you delete messages\nif your organization allows it."
    a, b = sentence_around("x" * 1000, 500, 505, max_chars=100)
    assert b - a <= 100 and a <= 500 and b >= 505


def test_how_to_questions_and_their_steps():
    from qabot.dialogue.steps import is_how_to, steps_in

    assert is_how_to("How do I turn on 2FA?") and is_how_to("how to export notes")
    assert is_how_to("where do i find my invoices") and not is_how_to("What is 2FA?")
    text = ("Intro.\n\n1. Open **Settings**.\n2. Select **Set up**.\n3. Scan the code.\n\n"
            "Later.\n\n1. Only one item.\n\nMore.\n\n1. First\n2. Second")
    a, b = steps_in(text)
    assert text[a:b] == "1. Open **Settings**.\n2. Select **Set up**.\n3. Scan the code."
    near = text.index("Second")
    a, b = steps_in(text, near)
    assert text[a:b] == "1. First\n2. Second"  # the list around the reader's answer
    assert steps_in("1. Only one item.\nNo list here.") is None
    markdown = ("Intro.\n\n1. Open **Settings**.\n\n1. Click **Pin**.\n   More text.\n\n"
                "1. Save.\n\nAfter.")
    a, b = steps_in(markdown)  # Markdown's own numbering: every item "1."
    assert markdown[a:b] == "1. Open **Settings**.\n\n1. Click **Pin**.\n   More text.\n\n1. Save."

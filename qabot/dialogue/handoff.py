"""When a handed-off conversation goes back to the bot: pure rules and the words for it.

A conversation handed to a person waits for the team. When the user writes again and no one
from the team has done anything in it for ``handoff_timeout_minutes`` (the wait starts at the
handoff and again at every operator reply: ``History.handoff_idle_since``), the engine gives it
back to the bot, as an operator's release does, and answers the message with ``back_notice``
first, so the user is never left talking to no one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

RELEASED_BY = "bot:timeout"  # the released handoff's released_by
# what the user reads when an operator gives the conversation back to the bot (stored as a
# message of kind "released" and delivered like an operator's reply: history.desk)
RELEASED_LINE = "You're talking to the bot again. Ask me anything!"
_OPENING = "No one from the support team has replied for "


def utcnow() -> datetime:
    """The wall clock, timezone-aware in UTC (the engine's default clock)."""
    return datetime.now(UTC)


def timed_out(idle_since: datetime | None, now: datetime, minutes: float) -> bool:
    """True when the team has been silent for ``minutes`` or more since ``idle_since``
    (None: no open handoff to time out)."""
    return idle_since is not None and now - idle_since >= timedelta(minutes=minutes)


def duration(minutes: float) -> str:
    """``minutes`` as a person says it: "1 minute", "60 minutes", "1.5 minutes", "2 hours"."""
    if minutes >= 120 and minutes % 60 == 0:
        return f"{minutes / 60:g} hours"
    return f"{minutes:g} minute" + ("" if minutes == 1 else "s")


def back_notice(minutes: float) -> str:
    """The line before the bot's first reply in a conversation it took back."""
    return (f"{_OPENING}{duration(minutes)}, so I'm back to answer your questions. If you "
            "still need a person, ask for one again.")


def stored_notice(text: str) -> str | None:
    """The notice a stored reply's text starts with, if any (a reply sent again after a crash
    is rebuilt from its stored text)."""
    first = text.split("\n\n", 1)[0]
    return first if first.startswith(_OPENING) else None

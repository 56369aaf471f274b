"""What the operator dashboard reads from the history: activity per day and the open handoffs.
Read-only queries over the history's engine; frozen records out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from qabot.history.models import (
    Conversation,
    Feedback,
    Handoff,
    Message,
    Unanswered,
    User,
    utcnow,
)


@dataclass(frozen=True)
class DayActivity:
    day: date
    questions: int  # messages in
    answered: int  # replies of kind answer or faq
    unanswered: int
    helpful: int
    not_helpful: int
    related: int = 0  # related replies: suggestions, not answers (counted in unanswered)

    @property
    def answer_rate(self) -> float:
        asked = self.answered + self.unanswered
        return self.answered / asked if asked else 0.0


@dataclass(frozen=True)
class OpenHandoff:
    conversation_id: int
    requested_at: datetime
    reason: str | None
    channel: str
    user: str  # the channel's id for the user
    name: str | None


class Reports:
    def __init__(self, engine: Engine):
        self.engine = engine

    def daily(self, days: int = 30, today: date | None = None) -> list[DayActivity]:
        """One row per day of the last ``days`` (UTC), oldest first, empty days included."""
        today = today or utcnow().date()
        first = today - timedelta(days=days - 1)
        since = datetime.combine(first, datetime.min.time())
        counts: dict[str, dict[date, int]] = {}
        with Session(self.engine) as s:
            def per_day(name: str, column, *where) -> None:
                day = func.date(column)
                rows = s.execute(select(day, func.count()).where(column >= since, *where)
                                 .group_by(day)).all()
                counts[name] = {_as_date(d): n for d, n in rows}

            per_day("questions", Message.created_at, Message.direction == "in")
            per_day("answered", Message.created_at, Message.direction == "out",
                    Message.kind.in_(("answer", "faq")))
            per_day("related", Message.created_at, Message.direction == "out",
                    Message.kind == "related")
            per_day("unanswered", Unanswered.created_at)
            per_day("helpful", Feedback.created_at, Feedback.value == 1)
            per_day("not_helpful", Feedback.created_at, Feedback.value == -1)
        return [DayActivity(first + timedelta(days=i),
                            *(counts[k].get(first + timedelta(days=i), 0)
                              for k in ("questions", "answered", "unanswered", "helpful",
                                        "not_helpful", "related")))
                for i in range(days)]

    def open_handoffs(self) -> list[OpenHandoff]:
        """Conversations waiting for a person, the longest-waiting first."""
        with Session(self.engine) as s:
            rows = s.execute(
                select(Handoff.conversation_id, func.min(Handoff.requested_at),
                       func.max(Handoff.reason), User.channel, User.external_id, User.name)
                .join(Conversation, Conversation.id == Handoff.conversation_id)
                .join(User, User.id == Conversation.user_id)
                .where(Conversation.status == "handed_off", Handoff.released_at.is_(None))
                .group_by(Handoff.conversation_id, User.channel, User.external_id, User.name)
                .order_by(func.min(Handoff.requested_at))).all()
        return [OpenHandoff(*row) for row in rows]


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])

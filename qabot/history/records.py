"""What the history hands out: frozen records, never ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ConversationInfo:
    id: int
    user_id: int
    status: str  # open | handed_off | ended
    started_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    direction: str  # in | out
    text: str
    created_at: datetime
    intent: str | None = None
    confidence: float | None = None
    kind: str | None = None
    score: float | None = None
    latency_ms: float | None = None
    topic: str | None = None
    reply_to: int | None = None
    sources: tuple[dict, ...] = ()
    author: str | None = None  # the operator who wrote a message of kind "operator"


@dataclass(frozen=True)
class UnansweredQuestion:
    id: int
    conversation_id: int
    question: str
    best_score: float | None
    created_at: datetime


@dataclass(frozen=True)
class RatedAnswer:
    """A bot answer with the user's rating and the question it answered."""

    message_id: int
    question: str  # the topic the answer was retrieved for (the standalone question)
    answer: StoredMessage
    value: int
    comment: str | None


@dataclass(frozen=True)
class HistoryStats:
    users: int
    conversations: int
    messages_in: int
    answered: int  # replies of kind answer or faq
    unanswered: int
    handoffs: int
    feedback_up: int
    feedback_down: int
    related: int = 0  # related replies: suggestions, not answers (counted in unanswered)

    @property
    def answer_rate(self) -> float:
        asked = self.answered + self.unanswered
        return self.answered / asked if asked else 0.0

"""The operator desk: what a person from the support team does in a handed-off conversation.

An operator ``reply`` is a message of the conversation (direction ``out``, kind ``operator``,
its ``author`` the operator's account); ``release`` gives the conversation back to the bot and
stores the line that tells the user so (kind ``released``). Either is delivered on the user's
channel:

- a channel that **pulls** (the web widget) reads it with ``messages_after``;
- a channel that **pushes** (Telegram: ``pushed``) gets it through an outbox: the same
  transaction that stores the message records a delivery in the update journal
  (``history.inbox``) under the channel ``<channel>:out``, the message id as its update id and
  the user as its chat. The channel's front end claims deliveries like updates (each chat's in
  the order stored, one worker at a time, a lease that lapses when its worker dies) and marks
  each done once sent. A crash after the store loses nothing; a crash between the send and
  that mark sends it again (one database write long, as for replies to updates).

It also reads what the dashboard shows about the operators (``activity``), and marks the
unanswered questions an operator's answer has covered (``mark_answered``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from qabot.channels import MAX_MESSAGE_CHARS
from qabot.errors import OperatorReplyError
from qabot.history.models import (
    Conversation,
    Handoff,
    InboxUpdate,
    Message,
    Unanswered,
    User,
    utcnow,
)
from qabot.history.records import StoredMessage
from qabot.history.tables import Tables

MAX_REPLY_CHARS = MAX_MESSAGE_CHARS  # as a user's message on the web API
OUTBOX = "{channel}:out"  # the update journal's channel for what goes out on ``channel``
OPERATOR, RELEASED = "operator", "released"  # the kinds of message the desk stores


DeskError = OperatorReplyError  # what the desk raises for a reply it refuses (said why)


@dataclass(frozen=True)
class Delivery:
    """What the outbox holds for one message to push to a user: its payload (JSON)."""

    message_id: int
    user: str  # the channel's id for the user (a Telegram chat id)
    text: str
    kind: str  # operator | released
    author: str | None = None

    def to_json(self) -> str:
        return json.dumps({"message_id": self.message_id, "user": self.user, "text": self.text,
                           "kind": self.kind, "author": self.author}, ensure_ascii=False)

    @classmethod
    def from_json(cls, payload: str) -> Delivery:
        data = json.loads(payload)
        return cls(int(data["message_id"]), str(data["user"]), str(data["text"]),
                   str(data["kind"]), data.get("author"))


@dataclass(frozen=True)
class DeskActivity:
    """The operators' side of the dashboard."""

    waiting: int  # conversations waiting for a person
    oldest_waiting_since: datetime | None
    replies_by: dict[str, int] = field(default_factory=dict)  # operator -> replies, last days
    days: int = 30


def outbox_channel(channel: str) -> str:
    return OUTBOX.format(channel=channel)


def normalized(question: str) -> str:
    """A question as ``mark_answered`` compares it: case and spacing folded."""
    return " ".join(question.casefold().split())


class OperatorDesk(Tables):
    """Operator replies and releases over the history database's engine; ``pushed`` names the
    channels whose messages go through the outbox; ``clock`` stamps the rows (the history's)."""

    def __init__(self, engine: Engine, pushed: Iterable[str] = (),
                 clock: Callable[[], datetime] = utcnow):
        super().__init__(engine, clock)
        self.pushed = frozenset(pushed)

    # ---------------------------------------------------------------- writes

    def reply(self, conversation_id: int, text: str, author: str, *,
              key: str | None = None) -> StoredMessage:
        """Store an operator's message in a conversation that waits for a person, and its
        delivery when the user's channel is pushed; ``DeskError`` (nothing stored) for an
        empty or over-long text, or a conversation that does not wait for a person. ``key``
        names what brought the reply (a channel's update, as ``messages.update_key``): the
        same key again returns the message stored for it, storing and sending nothing twice
        (a command handled again after a crash)."""
        if key is not None:
            from qabot.history.repository import _message

            with self._session() as s:
                stored = s.scalar(select(Message).where(Message.update_key == key))
                if stored is not None:
                    return _message(stored)
        text = text.replace("\r\n", "\n").replace("\x00", "\ufffd").strip() if isinstance(
            text, str) else ""
        if not text:
            raise DeskError("the reply is empty")
        if len(text) > MAX_REPLY_CHARS:
            raise DeskError(f"the reply has {len(text):,} characters; at most "
                            f"{MAX_REPLY_CHARS:,} are sent")
        with self._session() as s:
            conversation, user = self._conversation(s, conversation_id)
            if conversation.status != "handed_off":
                raise DeskError(f"conversation {conversation_id} does not wait for a person "
                                "(it is back with the bot): nothing was sent")
            return self._store(s, conversation, user, text, OPERATOR, author, key)

    def release(self, conversation_id: int, by: str, line: str) -> StoredMessage | None:
        """Give a handed-off conversation back to the bot and store ``line`` (kind
        ``released``) for its user, delivered like a reply; None when it was not handed off."""
        with self._session() as s:
            conversation, user = self._conversation(s, conversation_id, missing_ok=True)
            if conversation is None or conversation.status != "handed_off":
                return None
            conversation.status = "open"
            s.execute(update(Handoff).where(Handoff.conversation_id == conversation_id,
                                            Handoff.released_at.is_(None))
                      .values(released_at=self.clock(), released_by=by))
            return self._store(s, conversation, user, line, RELEASED, None)

    def mark_answered(self, questions: Iterable[str]) -> int:
        """Mark the unanswered questions equal to one of ``questions`` (case and spacing
        folded) answered now; returns how many left the unanswered list."""
        wanted = {normalized(q) for q in questions if q and q.strip()}
        if not wanted:
            return 0
        with self._session() as s:
            rows = s.execute(select(Unanswered.id, Unanswered.question)
                             .where(Unanswered.answered_at.is_(None))).all()
            ids = [row.id for row in rows if normalized(row.question) in wanted]
            if ids:
                s.execute(update(Unanswered).where(Unanswered.id.in_(ids))
                          .values(answered_at=self.clock()))
            return len(ids)

    def _conversation(self, s: Session, conversation_id: int, missing_ok: bool = False):
        row = s.execute(select(Conversation, User).join(User, User.id == Conversation.user_id)
                        .where(Conversation.id == conversation_id)
                        .with_for_update(of=Conversation)).first()
        if row is None:
            if missing_ok:
                return None, None
            raise DeskError(f"no conversation {conversation_id}")
        return row[0], row[1]

    def _store(self, s: Session, conversation: Conversation, user: User, text: str, kind: str,
               author: str | None, key: str | None = None) -> StoredMessage:
        now = self.clock()
        row = Message(conversation_id=conversation.id, direction="out", text=text, kind=kind,
                      author=author, created_at=now, update_key=key)
        s.add(row)
        conversation.updated_at = now
        s.flush()
        if user.channel in self.pushed:
            delivery = Delivery(row.id, user.external_id, text, kind, author)
            s.add(InboxUpdate(channel=outbox_channel(user.channel), update_id=row.id,
                              chat=user.external_id, payload=delivery.to_json(),
                              state="pending", attempts=0, received_at=now))
        return StoredMessage(row.id, conversation.id, "out", text, now, kind=kind,
                             author=author)

    # ---------------------------------------------------------------- reads

    def messages_after(self, conversation_id: int, after: int = 0,
                       limit: int = 100) -> list[StoredMessage]:
        """The conversation's messages with an id above ``after``, oldest first, at most
        ``limit`` (page on with the last one's id)."""
        from qabot.history.repository import _message

        with self._session() as s:
            rows = s.scalars(select(Message).where(Message.conversation_id == conversation_id,
                                                   Message.id > after)
                             .order_by(Message.id).limit(limit)).all()
            return [_message(r) for r in rows]

    def authors_after(self, conversation_id: int, after: int) -> list[str]:
        """The operators who replied in the conversation after message ``after``, in order."""
        with self._session() as s:
            rows = s.scalars(select(Message.author).where(
                Message.conversation_id == conversation_id, Message.id > after,
                Message.kind == OPERATOR).order_by(Message.id)).all()
        return list(dict.fromkeys(a for a in rows if a))

    def activity(self, days: int = 30) -> DeskActivity:
        """Handoffs waiting (and since when the oldest), replies by operator over ``days``."""
        since = self.clock() - timedelta(days=days)
        with self._session() as s:
            waiting = s.execute(
                select(func.count(func.distinct(Handoff.conversation_id)),
                       func.min(Handoff.requested_at))
                .join(Conversation, Conversation.id == Handoff.conversation_id)
                .where(Conversation.status == "handed_off",
                       Handoff.released_at.is_(None))).one()
            replies = s.execute(select(Message.author, func.count(Message.id))
                                .where(Message.kind == OPERATOR, Message.created_at >= since)
                                .group_by(Message.author)).all()
        by = dict(sorted(((a or "?", n) for a, n in replies), key=lambda p: (-p[1], p[0])))
        return DeskActivity(int(waiting[0] or 0), waiting[1], by, days)

    def faq_replies(self, source: str, since: datetime) -> list[tuple[str, datetime]]:
        """The FAQ answers given since ``since`` from the sheet ``source`` (the source name
        the index cites): (the FAQ question answered, when), oldest first."""
        with self._session() as s:
            rows = s.execute(select(Message.sources_json, Message.created_at).where(
                Message.kind == "faq", Message.direction == "out",
                Message.created_at >= since).order_by(Message.id)).all()
        given = []
        for sources_json, created in rows:
            cited = (json.loads(sources_json or "[]") or [{}])[0]
            if cited.get("source") == source:
                given.append((cited.get("title") or "", created))
        return given

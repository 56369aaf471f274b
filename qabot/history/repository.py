"""History: the one place that reads and writes conversation history.

Any SQLAlchemy URL works; SQLite (the default) gets foreign keys and WAL switched on. The schema
is brought to the latest Alembic revision on ``open``. Methods take and return plain ids and
frozen dataclasses (``records.py``), never ORM objects, so callers never hold a session.
The class is over 300 lines because it is the one place that touches the tables: splitting its
methods by table would scatter the transactions that span several (forget, purge, stats).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from qabot.history.database import HistoryError, create_db_engine, upgrade_schema
from qabot.history.models import (
    Conversation,
    Feedback,
    Handoff,
    Message,
    Unanswered,
    User,
    utcnow,
)
from qabot.history.records import (
    ConversationInfo,
    HistoryStats,
    RatedAnswer,
    StoredMessage,
    UnansweredQuestion,
)


def _message(row: Message) -> StoredMessage:
    sources = tuple(json.loads(row.sources_json)) if row.sources_json else ()
    return StoredMessage(row.id, row.conversation_id, row.direction, row.text, row.created_at,
                         row.intent, row.confidence, row.kind, row.score, row.latency_ms,
                         row.topic, row.reply_to, sources, row.author)


def _conversation(row: Conversation) -> ConversationInfo:
    return ConversationInfo(row.id, row.user_id, row.status, row.started_at, row.updated_at)


class History:
    """Conversation history over one database URL.

    ``clock`` gives the time every row written here is stamped with (messages, handoffs,
    releases, feedback, a conversation's last update), timezone-aware in UTC: the wall clock
    (``models.utcnow``) unless a caller (a test) hands it another."""

    def __init__(self, url: str, clock: Callable[[], datetime] = utcnow):
        self.url = url
        self.clock = clock
        self._engine: Engine | None = None
        self._sessions: sessionmaker | None = None

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def open(cls, url: str, clock: Callable[[], datetime] = utcnow) -> History:
        """Connect and bring the schema to the latest revision."""
        history = cls(url, clock)
        history.upgrade()
        return history

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_db_engine(self.url)
            self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        return self._engine

    def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied (creates the schema on a new DB)."""
        upgrade_schema(self.engine, self.url)

    def inbox(self, channel: str):
        """The update journal of ``channel`` over this database (``history.inbox``)."""
        from qabot.history.inbox import Inbox

        return Inbox(self.engine, channel)

    def reports(self):
        """The dashboard's read-only queries over this database (``history.reports``)."""
        from qabot.history.reports import Reports

        return Reports(self.engine)

    def operator_sessions(self):
        """The web dashboard's operator sessions over this database (``history.sessions``),
        on this history's clock."""
        from qabot.history.sessions import OperatorSessions

        return OperatorSessions(self.engine, self.clock)

    def operator_desk(self, pushed: tuple[str, ...] = ()):
        """What operators do in conversations over this database (``history.desk``): their
        replies and releases, journaled for delivery on the ``pushed`` channels."""
        from qabot.history.desk import OperatorDesk

        return OperatorDesk(self.engine, pushed, self.clock)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextmanager
    def _session(self) -> Iterator[Session]:
        self.engine  # noqa: B018  (creates the sessionmaker)
        with self._sessions() as session, session.begin():
            yield session

    # ---------------------------------------------------------------- users, conversations

    def user_id(self, channel: str, external_id: str, name: str | None = None) -> int:
        """The user's id, created on first sight (by one process when two race: the loser's
        insert hits the unique key and it reads the winner's row)."""
        from sqlalchemy.exc import IntegrityError

        for attempt in range(2):
            try:
                with self._session() as s:
                    row = s.scalar(select(User).where(User.channel == channel,
                                                      User.external_id == str(external_id)))
                    if row is None:
                        row = User(channel=channel, external_id=str(external_id), name=name)
                        s.add(row)
                        s.flush()
                    elif name and row.name != name:
                        row.name = name
                    return row.id
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def current_conversation(self, user_id: int) -> ConversationInfo:
        """The user's latest conversation unless it ended; else a new one. The user's row is
        locked meanwhile (PostgreSQL), so two processes never start two conversations."""
        with self._session() as s:
            _lock_user(s, user_id)
            row = s.scalar(select(Conversation).where(Conversation.user_id == user_id)
                           .order_by(Conversation.id.desc()).limit(1))
            if row is None or row.status == "ended":
                now = self.clock()
                row = Conversation(user_id=user_id, started_at=now, updated_at=now)
                s.add(row)
                s.flush()
            return _conversation(row)

    def new_conversation(self, user_id: int) -> ConversationInfo:
        """End the user's open conversation (if any) and start a new one."""
        with self._session() as s:
            _lock_user(s, user_id)
            s.execute(update(Conversation).where(Conversation.user_id == user_id,
                                                 Conversation.status == "open")
                      .values(status="ended"))
            now = self.clock()
            row = Conversation(user_id=user_id, started_at=now, updated_at=now)
            s.add(row)
            s.flush()
            return _conversation(row)

    def conversation(self, conversation_id: int) -> ConversationInfo:
        with self._session() as s:
            row = s.get(Conversation, conversation_id)
            if row is None:
                raise HistoryError(f"no conversation {conversation_id}")
            return _conversation(row)

    # ---------------------------------------------------------------- messages

    def add_message(self, conversation_id: int, direction: str, text: str, *,
                    reply_to: int | None = None, intent: str | None = None,
                    confidence: float | None = None, kind: str | None = None,
                    score: float | None = None, latency_ms: float | None = None,
                    topic: str | None = None, sources: list[dict] | None = None,
                    update_key: str | None = None) -> int:
        with self._session() as s:
            now = self.clock()
            row = _new_message(conversation_id, direction, text, reply_to=reply_to,
                               intent=intent, confidence=confidence, kind=kind, score=score,
                               latency_ms=latency_ms, topic=topic, sources=sources,
                               update_key=update_key, created_at=now)
            s.add(row)
            s.execute(update(Conversation).where(Conversation.id == conversation_id)
                      .values(updated_at=now))
            s.flush()
            return row.id

    def add_reply(self, conversation_id: int, asked: int, text: str, *, kind: str,
                  intent: str | None = None, confidence: float | None = None,
                  score: float | None = None, latency_ms: float | None = None,
                  topic: str | None = None, sources: list[dict] | None = None,
                  unanswered: str | None = None, handoff: str | None = None,
                  ended: bool = False) -> int:
        """Store the bot's reply to message ``asked`` and what it implies, in one transaction:
        the asked message's intent and topic, the ``unanswered`` question, a handoff (its
        reason) or the conversation's end."""
        with self._session() as s:
            now = self.clock()
            row = _new_message(conversation_id, "out", text, reply_to=asked, intent=intent,
                               confidence=confidence, kind=kind, score=score,
                               latency_ms=latency_ms, topic=topic, sources=sources,
                               created_at=now)
            s.add(row)
            s.execute(update(Message).where(Message.id == asked).values(
                intent=intent, confidence=confidence, kind=kind, topic=topic))
            if unanswered is not None:
                s.add(Unanswered(conversation_id=conversation_id, message_id=asked,
                                 question=_storable(unanswered), best_score=score))
            status = "handed_off" if handoff is not None else "ended" if ended else None
            if handoff is not None:
                s.add(Handoff(conversation_id=conversation_id, reason=handoff,
                              requested_at=now))
            values = {"updated_at": now, **({"status": status} if status else {})}
            s.execute(update(Conversation).where(Conversation.id == conversation_id)
                      .values(**values))
            s.flush()
            return row.id

    def message_by_key(self, update_key: str) -> StoredMessage | None:
        """The incoming message that came with this update, if it was stored."""
        with self._session() as s:
            row = s.scalar(select(Message).where(Message.update_key == update_key))
            return _message(row) if row else None

    def reply_to(self, message_id: int) -> StoredMessage | None:
        """The bot's stored reply to a message, if any."""
        with self._session() as s:
            row = s.scalar(select(Message).where(Message.reply_to == message_id,
                                                 Message.direction == "out")
                           .order_by(Message.id).limit(1))
            return _message(row) if row else None

    def message(self, message_id: int) -> StoredMessage | None:
        with self._session() as s:
            row = s.get(Message, message_id)
            return _message(row) if row else None

    def messages(self, conversation_id: int, limit: int | None = None) -> list[StoredMessage]:
        """The conversation's messages, oldest first (the last ``limit`` of them)."""
        with self._session() as s:
            query = (select(Message).where(Message.conversation_id == conversation_id)
                     .order_by(Message.id.desc()))
            if limit:
                query = query.limit(limit)
            return [_message(r) for r in reversed(s.scalars(query).all())]

    def owner_of_message(self, message_id: int) -> tuple[str, str] | None:
        """(channel, external user id) of the conversation a message belongs to."""
        with self._session() as s:
            row = s.execute(select(User.channel, User.external_id)
                            .join(Conversation, Conversation.user_id == User.id)
                            .join(Message, Message.conversation_id == Conversation.id)
                            .where(Message.id == message_id)).first()
            return (row[0], row[1]) if row else None

    def owner_of_conversation(self, conversation_id: int) -> tuple[str, str] | None:
        with self._session() as s:
            row = s.execute(select(User.channel, User.external_id)
                            .join(Conversation, Conversation.user_id == User.id)
                            .where(Conversation.id == conversation_id)).first()
            return (row[0], row[1]) if row else None

    # ---------------------------------------------------------------- feedback, unanswered

    def add_feedback(self, message_id: int, value: int, comment: str | None = None) -> int:
        """Store the vote on a bot message; a second vote on it replaces the first (one vote
        per message: its conversation has one user)."""
        if value not in (1, -1):
            raise HistoryError(f"feedback value must be +1 or -1, got {value!r}")
        from sqlalchemy.exc import IntegrityError

        for attempt in range(2):  # two taps at once: the loser's insert hits the unique key
            try:
                with self._session() as s:
                    target = s.get(Message, message_id)
                    if target is None or target.direction != "out":
                        raise HistoryError(f"no bot message {message_id} to rate")
                    row = s.scalar(select(Feedback).where(Feedback.message_id == message_id))
                    if row is None:
                        row = Feedback(message_id=message_id, value=value, comment=comment,
                                       created_at=self.clock())
                        s.add(row)
                    else:
                        row.value, row.comment, row.created_at = value, comment, self.clock()
                    s.flush()
                    return row.id
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def add_unanswered(self, conversation_id: int, message_id: int, question: str,
                       best_score: float | None) -> None:
        with self._session() as s:
            s.add(Unanswered(conversation_id=conversation_id, message_id=message_id,
                             question=_storable(question), best_score=best_score))

    def unanswered(self, limit: int | None = None) -> list[UnansweredQuestion]:
        """The questions still unanswered (none an operator's answer has covered since),
        newest first."""
        with self._session() as s:
            query = (select(Unanswered).where(Unanswered.answered_at.is_(None))
                     .order_by(Unanswered.id.desc()))
            if limit:
                query = query.limit(limit)
            return [UnansweredQuestion(r.id, r.conversation_id, r.question, r.best_score,
                                       r.created_at) for r in s.scalars(query)]

    def rated_answers(self, value: int | None = 1) -> list[RatedAnswer]:
        """Bot answers users rated (``value`` +1, -1 or None for both), oldest first."""
        with self._session() as s:
            query = (select(Feedback, Message).join(Message, Feedback.message_id == Message.id)
                     .order_by(Feedback.id))
            if value is not None:
                query = query.where(Feedback.value == value)
            out = []
            for feedback, message in s.execute(query):
                question = message.topic
                if question is None and message.reply_to is not None:
                    asked = s.get(Message, message.reply_to)
                    question = asked.text if asked else ""
                out.append(RatedAnswer(message.id, question or "", _message(message),
                                       feedback.value, feedback.comment))
            return out

    # ---------------------------------------------------------------- handoffs

    def open_handoff(self, conversation_id: int, reason: str | None = None) -> None:
        with self._session() as s:
            now = self.clock()
            s.add(Handoff(conversation_id=conversation_id, reason=reason, requested_at=now))
            s.execute(update(Conversation).where(Conversation.id == conversation_id)
                      .values(status="handed_off", updated_at=now))

    def release(self, conversation_id: int, by: str | None = None) -> bool:
        """Give a handed-off conversation back to the bot; False if it was not handed off."""
        with self._session() as s:
            row = s.get(Conversation, conversation_id)
            if row is None or row.status != "handed_off":
                return False
            row.status = "open"
            row.updated_at = now = self.clock()
            s.execute(update(Handoff).where(Handoff.conversation_id == conversation_id,
                                            Handoff.released_at.is_(None))
                      .values(released_at=now, released_by=by))
            return True

    def handoff_idle_since(self, conversation_id: int) -> datetime | None:
        """Since when a handed-off conversation has waited for the team: the latest of its
        open handoff's request (a handoff not yet released; the latest, when the user asked
        again) and its latest stored message of kind ``"operator"`` (an operator's reply:
        direction "out", kind "operator"), so every operator reply starts the wait afresh.
        None when the conversation has no open handoff. Timezone-aware, in UTC."""
        with self._session() as s:
            requested = s.scalar(select(func.max(Handoff.requested_at))
                                 .where(Handoff.conversation_id == conversation_id,
                                        Handoff.released_at.is_(None)))
            if requested is None:
                return None
            replied = s.scalar(select(func.max(Message.created_at))
                               .where(Message.conversation_id == conversation_id,
                                      Message.kind == "operator"))
            return max(_aware(t) for t in (requested, replied) if t is not None)

    # ---------------------------------------------------------------- retention

    def purge(self, older_than: timedelta) -> int:
        """Delete conversations not touched for ``older_than``; returns how many."""
        cutoff = self.clock() - older_than
        with self._session() as s:
            ids = s.scalars(select(Conversation.id).where(Conversation.updated_at < cutoff)).all()
            _delete_conversations(s, ids)
            s.execute(delete(User).where(~User.conversations.any()))
            return len(ids)

    def forget_user(self, channel: str, external_id: str) -> int:
        """Delete the user and all their history; returns the conversations deleted."""
        with self._session() as s:
            user = s.scalar(select(User).where(User.channel == channel,
                                               User.external_id == str(external_id)))
            if user is None:
                return 0
            ids = s.scalars(select(Conversation.id).where(Conversation.user_id == user.id)).all()
            _delete_conversations(s, ids)
            s.execute(delete(User).where(User.id == user.id))
            return len(ids)

    def stats(self) -> HistoryStats:
        with self._session() as s:
            def count(query) -> int:
                return int(s.scalar(query) or 0)

            return HistoryStats(
                users=count(select(func.count(User.id))),
                conversations=count(select(func.count(Conversation.id))),
                messages_in=count(select(func.count(Message.id))
                                  .where(Message.direction == "in")),
                answered=count(select(func.count(Message.id))
                               .where(Message.direction == "out",
                                      Message.kind.in_(("answer", "faq")))),
                unanswered=count(select(func.count(Unanswered.id))),
                handoffs=count(select(func.count(Handoff.id))),
                feedback_up=count(select(func.count(Feedback.id)).where(Feedback.value == 1)),
                feedback_down=count(select(func.count(Feedback.id))
                                    .where(Feedback.value == -1)),
                related=count(select(func.count(Message.id))
                              .where(Message.direction == "out", Message.kind == "related")),
            )


def _new_message(conversation_id: int, direction: str, text: str, *, topic: str | None,
                 sources: list[dict] | None, **fields) -> Message:
    return Message(conversation_id=conversation_id, direction=direction, text=_storable(text),
                   topic=_storable(topic) if topic else None,
                   sources_json=json.dumps(sources, ensure_ascii=False) if sources else None,
                   **fields)


def _aware(moment: datetime) -> datetime:
    """A stored time as a timezone-aware UTC datetime (SQLite keeps no zone: it stores UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _lock_user(s: Session, user_id: int) -> None:
    """Hold the user's row until the transaction ends (FOR UPDATE; SQLite has one writer)."""
    s.execute(select(User.id).where(User.id == user_id).with_for_update())


def _delete_conversations(s: Session, ids) -> None:
    """Children first, so it works with or without ON DELETE CASCADE support."""
    if not ids:
        return
    message_ids = select(Message.id).where(Message.conversation_id.in_(ids))
    s.execute(delete(Feedback).where(Feedback.message_id.in_(message_ids)))
    s.execute(delete(Unanswered).where(Unanswered.conversation_id.in_(ids)))
    s.execute(delete(Handoff).where(Handoff.conversation_id.in_(ids)))
    s.execute(update(Message).where(Message.conversation_id.in_(ids)).values(reply_to=None))
    s.execute(delete(Message).where(Message.conversation_id.in_(ids)))
    s.execute(delete(Conversation).where(Conversation.id.in_(ids)))


def _storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL; everything else is kept as sent."""
    return text.replace("\x00", "\ufffd")

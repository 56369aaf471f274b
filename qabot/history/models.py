"""Conversation history tables (SQLAlchemy 2): users, conversations, messages, feedback,
unanswered questions and handoffs. The schema is created and upgraded by Alembic
(``qabot/history/migrations``); these classes are its source of truth.

Deleting a user deletes their conversations, and a conversation its messages, feedback,
unanswered questions and handoffs (ON DELETE CASCADE, and the ORM cascades the same way).
``inbox`` is the journal of channel updates (``inbox.py``): what arrived, who is answering it,
and what is done; its channel ``<channel>:out`` journals what goes the other way, the operator
messages and release lines a channel must push to its user (``desk.py``).
``operator_sessions`` holds the web dashboard's signed-in sessions (``sessions.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=CONVENTION)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))  # console, telegram, ...
    external_id: Mapped[str] = mapped_column(String(128))  # the channel's id for the user
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    conversations: Mapped[list[Conversation]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|handed_off|ended
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    user: Mapped[User] = relationship(back_populates="conversations")
    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", passive_deletes=True,
        order_by="Message.id")
    handoffs: Mapped[list[Handoff]] = relationship(cascade="all, delete-orphan",
                                                   passive_deletes=True)
    unanswered: Mapped[list[Unanswered]] = relationship(cascade="all, delete-orphan",
                                                        passive_deletes=True)


class Message(Base):
    """One message, either direction. Bot replies carry how they were produced."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reply_to: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=True)
    intent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    topic: Mapped[str | None] = mapped_column(Text, nullable=True)  # the question it is about
    sources_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the channel's id of the update that brought an incoming message ("telegram:123"): a
    # retried update finds its message (and reply) instead of storing them twice
    update_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True,
                                                   index=True)
    # who wrote a message of kind "operator" (the operator's account name); else null
    author: Mapped[str | None] = mapped_column(String(128), nullable=True)
    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    feedback: Mapped[list[Feedback]] = relationship(cascade="all, delete-orphan",
                                                    passive_deletes=True)


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # one vote per bot message (its conversation has one user): a second tap changes it
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"),
                                            index=True, unique=True)
    value: Mapped[int] = mapped_column(Integer)  # +1 helpful, -1 not helpful
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Unanswered(Base):
    __tablename__ = "unanswered"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(Text)
    best_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    # when an operator's answer (the managed FAQ sheet) covered it: off the unanswered list
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Handoff(Base):
    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class InboxUpdate(Base):
    """One update from a channel (a Telegram update), recorded before it is acknowledged and
    answered. ``state`` is pending until a worker has answered it (done) or given up (failed);
    a worker holds it by ``claimed_by`` until ``claimed_until``."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("channel", "update_id"),
                      Index("ix_inbox_state_chat", "state", "chat", "update_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    update_id: Mapped[int] = mapped_column(BigInteger)
    chat: Mapped[str] = mapped_column(String(64))  # updates of one chat are answered in order
    payload: Mapped[str] = mapped_column(Text)  # the update as the channel sent it (JSON)
    state: Mapped[str] = mapped_column(String(8), default="pending")  # pending|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                           nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True,
                                                         index=True)


class OperatorSession(Base):
    """One signed-in session of the web dashboard: a row from sign-in until sign-out (deleted),
    the operator's "sign out everywhere" (deleted) or its expiry (purged later). The id is the
    SHA-256 of the session id the cookie carries, never the id itself, so a copy of the database
    signs no one in."""

    __tablename__ = "operator_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    operator: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

"""The web dashboard's operator sessions, kept server-side so that signing out ends them.

A sign-in ``open``s a session: a random id (256 bits, ``secrets.token_urlsafe``) that the signed
cookie carries, and a row that holds its SHA-256, the operator and its expiry. Every dashboard
request ``check``s the id: the row must exist and not have expired. Sign-out ``end``s the
session (deletes its row), "sign out everywhere" ends all of the operator's (``end_all``), and
expired rows are purged at each sign-in. The row stores a hash, not the id: a leaked copy of
the database (a backup, a replica) holds nothing a cookie can be made from; a plain SHA-256 is
enough, as the id is random and long (no guessing to slow down, unlike a password).

The time comes from ``clock`` (timezone-aware, UTC): the history's, so a test can move it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from qabot.history.models import OperatorSession
from qabot.history.tables import Tables


def _key(session_id: str) -> str:
    """What the table stores for a session id: its SHA-256, in hex."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class OperatorSessions(Tables):
    """Operator sessions over the history database's engine."""

    def open(self, operator: str, lifetime: timedelta) -> str:
        """Start a session of ``operator`` that ends after ``lifetime``; returns its id (for
        the cookie: it is stored only hashed). Purges the expired sessions of everyone."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        with self._session() as s:
            s.execute(delete(OperatorSession).where(OperatorSession.expires_at <= now))
            s.add(OperatorSession(id=_key(session_id), operator=operator, created_at=now,
                                  expires_at=now + lifetime))
        return session_id

    def check(self, session_id: str) -> str | None:
        """The operator of a live session (one not ended and not expired); else None."""
        with self._session() as s:
            return s.scalar(select(OperatorSession.operator).where(
                OperatorSession.id == _key(session_id),
                OperatorSession.expires_at > self.clock()))

    def end(self, session_id: str) -> bool:
        """Sign a session out; False when it had already ended (or never existed)."""
        with self._session() as s:
            return s.execute(delete(OperatorSession).where(
                OperatorSession.id == _key(session_id))).rowcount == 1

    def end_all(self, operator: str) -> int:
        """Sign ``operator`` out everywhere; returns how many sessions ended."""
        with self._session() as s:
            return s.execute(delete(OperatorSession).where(
                OperatorSession.operator == operator)).rowcount

    def purge(self) -> int:
        """Delete the rows of expired sessions (``open`` does it too); returns how many."""
        with self._session() as s:
            return s.execute(delete(OperatorSession).where(
                OperatorSession.expires_at <= self.clock())).rowcount

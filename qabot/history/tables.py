"""What the history's table services share (``Inbox``, ``OperatorSessions``, ``OperatorDesk``):
the history database's engine, short transactions over it, and the clock their rows are
stamped with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from qabot.history.models import utcnow


class Tables:
    """``clock`` returns the time now, timezone-aware in UTC (the wall clock unless a test
    hands it another)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.clock = clock
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session, session.begin():
            yield session

"""The inbox: channel updates recorded before they are acknowledged, answered once, in order.

A front end records each update (``record``) before it tells the channel it has it (the next
``getUpdates`` offset, or the webhook's 200), so a crash never loses one; an update the channel
delivers again is recognised by its id and not recorded twice. Workers, in one process or in
several replicas on one database, ``claim`` updates to answer: only the oldest pending update
of each chat, and only while no other worker holds it, so each chat is answered in order and
by one worker at a time. A claim is a lease: a worker renews it while it answers and marks the
update done when the reply is sent (``finish``); a worker that dies leaves its lease to expire,
and another worker (or the restarted one) answers the update then.

The claim is a compare-and-set ``UPDATE ... WHERE state = 'pending' AND (unclaimed or
expired)``: on PostgreSQL and SQLite alike only one worker's update matches, so no table lock
is needed.

The inbox reads the time (for lease ends, and when an update arrived and was finished) from
its ``clock``: the wall clock in UTC unless a caller (a test) hands it another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from qabot.history.models import InboxUpdate, utcnow
from qabot.history.tables import Tables


@dataclass(frozen=True)
class Claimed:
    """An update a worker now holds: answer it, then ``finish`` it."""

    id: int
    update_id: int
    chat: str
    payload: str
    attempts: int  # including this one


@dataclass(frozen=True)
class InboxCounts:
    pending: int
    done: int
    failed: int


class Inbox(Tables):
    """The update journal of one channel over the history database's engine.

    ``clock`` returns the time now, timezone-aware in UTC (default: ``models.utcnow``, the wall
    clock every history timestamp uses); a test passes a clock it moves itself to let leases
    run out without waiting. Workers sharing an inbox must share the clock too: a lease's end
    is stored as a time of this clock and read against the claiming worker's."""

    def __init__(self, engine: Engine, channel: str,
                 clock: Callable[[], datetime] = utcnow):
        super().__init__(engine, clock)
        self.channel = channel

    def record(self, update_id: int, chat: str, payload: str) -> bool:
        """Store a new update; False when it was recorded before (a delivery seen again)."""
        try:
            with self._session() as s:
                s.add(InboxUpdate(channel=self.channel, update_id=update_id, chat=str(chat),
                                  payload=payload, state="pending", attempts=0,
                                  received_at=self.clock()))
            return True
        except IntegrityError:
            return False

    def claim(self, owner: str, limit: int, lease: float) -> list[Claimed]:
        """Take up to ``limit`` updates to answer: the oldest pending update of each chat whose
        lease is free (never claimed, or its worker's lease ran out), oldest first."""
        now = self.clock()
        free = or_(InboxUpdate.claimed_until.is_(None), InboxUpdate.claimed_until < now)
        first = aliased(InboxUpdate)
        head = (select(func.min(first.update_id))
                .where(first.channel == InboxUpdate.channel, first.chat == InboxUpdate.chat,
                       first.state == "pending")
                .scalar_subquery())
        claimed: list[Claimed] = []
        with self._session() as s:
            candidates = s.execute(
                select(InboxUpdate.id, InboxUpdate.update_id, InboxUpdate.chat,
                       InboxUpdate.payload, InboxUpdate.attempts)
                .where(InboxUpdate.channel == self.channel, InboxUpdate.state == "pending",
                       InboxUpdate.update_id == head, free)
                .order_by(InboxUpdate.update_id).limit(limit)).all()
            until = now + timedelta(seconds=lease)
            for row in candidates:  # in id order on every worker: no lock cycles
                taken = s.execute(
                    update(InboxUpdate)
                    .where(InboxUpdate.id == row.id, InboxUpdate.state == "pending", free)
                    .values(claimed_by=owner, claimed_until=until,
                            attempts=InboxUpdate.attempts + 1)
                    .execution_options(synchronize_session=False))
                if taken.rowcount == 1:
                    claimed.append(Claimed(row.id, row.update_id, row.chat, row.payload,
                                           row.attempts + 1))
        return claimed

    def renew(self, owner: str, ids: list[int], lease: float) -> int:
        """Extend the leases ``owner`` still holds; returns how many it holds."""
        if not ids:
            return 0
        with self._session() as s:
            return s.execute(
                update(InboxUpdate)
                .where(InboxUpdate.id.in_(ids), InboxUpdate.claimed_by == owner,
                       InboxUpdate.state == "pending")
                .values(claimed_until=self.clock() + timedelta(seconds=lease))
                .execution_options(synchronize_session=False)).rowcount

    def finish(self, owner: str, id_: int, state: str = "done") -> bool:
        """Mark a held update answered (or failed); False when the lease had been lost."""
        with self._session() as s:
            return s.execute(
                update(InboxUpdate)
                .where(InboxUpdate.id == id_, InboxUpdate.claimed_by == owner,
                       InboxUpdate.state == "pending")
                .values(state=state, finished_at=self.clock(), claimed_by=None,
                        claimed_until=None)
                .execution_options(synchronize_session=False)).rowcount == 1

    def postpone(self, owner: str, id_: int, seconds: float) -> bool:
        """Let go of a held entry that failed for a passing reason (the channel unreachable):
        no worker may claim it for ``seconds``, and this try does not count towards giving it
        up (``attempts`` counts the tries a worker died in). False when the lease was lost."""
        with self._session() as s:
            return s.execute(
                update(InboxUpdate)
                .where(InboxUpdate.id == id_, InboxUpdate.claimed_by == owner,
                       InboxUpdate.state == "pending")
                .values(claimed_by=None,
                        claimed_until=self.clock() + timedelta(seconds=seconds),
                        attempts=InboxUpdate.attempts - 1)
                .execution_options(synchronize_session=False)).rowcount == 1

    def purge(self, older_than: timedelta) -> int:
        """Forget answered updates finished before ``older_than`` ago (a channel re-delivers
        an update for a day at most: keep them longer than that)."""
        cutoff = self.clock() - older_than
        with self._session() as s:
            return s.execute(delete(InboxUpdate).where(
                InboxUpdate.channel == self.channel, InboxUpdate.state != "pending",
                InboxUpdate.finished_at < cutoff)).rowcount

    def counts(self) -> InboxCounts:
        with self._session() as s:
            rows = dict(s.execute(select(InboxUpdate.state, func.count(InboxUpdate.id))
                                  .where(InboxUpdate.channel == self.channel)
                                  .group_by(InboxUpdate.state)).all())
        return InboxCounts(rows.get("pending", 0), rows.get("done", 0), rows.get("failed", 0))

    def oldest_pending(self) -> datetime | None:
        with self._session() as s:
            return s.scalar(select(func.min(InboxUpdate.received_at)).where(
                InboxUpdate.channel == self.channel, InboxUpdate.state == "pending"))

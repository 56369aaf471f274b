"""Every Telegram update answered once, in order, across crashes and replicas.

PTB's Updater (long polling or its webhook server) hands each update to ``InboxQueue.put``,
which records it in the inbox (``qabot.history.inbox``) before returning: before the next
``getUpdates`` acknowledges it to Telegram, or before the webhook answers 200. A crash before
that point loses nothing (Telegram delivers the update again); an update delivered again after
it was recorded is recognised and not recorded twice.

The ``Dispatcher`` claims recorded updates from the inbox (only the oldest pending one of each
chat, and only if no live worker holds it), runs PTB's handlers on each, and marks it done as
soon as its replies are sent. Its lease is renewed meanwhile; a worker that dies leaves its
updates to be answered by another replica, or by itself restarted, once the lease runs out.
An incoming text is stored with its update's key, so an update answered again finds its stored
message and reply instead of storing or computing them twice.

What remains, since Telegram has no idempotent send: a process that dies after Telegram took a
reply and before the update was marked done sends that reply again after the restart. That
window is one database write long; the inbox writes run on their own thread, never queued
behind model work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import Any

from telegram import Update
from telegram.ext import Application

# the inbox (``qabot.history.inbox.Inbox``) and what it hands out (``Claimed``) come from the
# composition root (``app.update_inbox``): front ends do not import the history package
Inbox = Claimed = Any

log = logging.getLogger("qabot.telegram")

# an update whose answering died with its worker this often is given up (logged, "failed"): a
# message that crashes the process would otherwise crash it at every restart; ten deaths in a
# row while answering the same update are not bad luck (every update in hand counts one)
MAX_ATTEMPTS = 10
KEEP_DONE = timedelta(days=2)  # Telegram re-delivers an unacknowledged update for 24 h at most
PURGE_EVERY = 3600.0  # seconds


def chat_key(update: Update) -> str:
    """What orders updates: the chat, else the user, else the update itself."""
    if update.effective_chat is not None:
        return str(update.effective_chat.id)
    if update.effective_user is not None:
        return f"user:{update.effective_user.id}"
    return f"update:{update.update_id}"


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class InboxDb:
    """The inbox on its own threads: its short writes never wait behind model work, and marking
    an update done (the end of the duplicate window) never waits behind recording new ones."""

    URGENT = ("finish", "renew")

    def __init__(self, inbox: Inbox):
        self.inbox = inbox
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qabot-inbox")
        self.urgent = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qabot-inbox-done")

    async def __call__(self, method: str, *args):
        call = partial(getattr(self.inbox, method), *args)
        pool = self.urgent if method in self.URGENT else self.executor
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.urgent.shutdown(wait=True)


class InboxQueue(asyncio.Queue):
    """The queue PTB's Updater puts updates into: ``put`` records each in the inbox and wakes
    the dispatcher; nothing is ever taken from the queue itself.

    While the database cannot be written, polling waits (retrying, so nothing is acknowledged)
    and the webhook answers 500 after ``webhook_patience`` seconds (Telegram posts it again)."""

    def __init__(self):
        super().__init__()
        self.db: InboxDb | None = None
        self.wake: asyncio.Event | None = None
        self.patience: float | None = None  # None: retry for ever (polling)

    def bind(self, db: InboxDb, wake: asyncio.Event, patience: float | None) -> None:
        self.db, self.wake, self.patience = db, wake, patience

    async def put(self, item) -> None:
        if not isinstance(item, Update):
            return
        payload = json.dumps(item.to_dict(), ensure_ascii=False)
        loop = asyncio.get_running_loop()
        started, delay = loop.time(), 0.2
        while True:
            try:
                new = await self.db("record", item.update_id, chat_key(item), payload)
                break
            except Exception:
                if self.patience is not None and loop.time() - started > self.patience:
                    raise
                log.exception("could not record update %s; retrying in %.1f s (it is not "
                              "acknowledged meanwhile)", item.update_id, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        if new:
            self.wake.set()
        else:
            log.info("update %s was delivered again; it is recorded already", item.update_id)


class Dispatcher:
    """Claims recorded updates, runs the Application's handlers on each, marks them done."""

    def __init__(self, application: Application, db: InboxDb, *, capacity: int = 32,
                 lease: float = 10.0, idle: float = 0.5, owner: str | None = None):
        self.application = application
        self.db = db
        self.capacity = capacity
        self.lease = lease
        self.idle = idle  # how often to look for updates other replicas recorded, or orphaned
        self.owner = owner or worker_name()
        self.wake = asyncio.Event()
        self.held: dict[int, Claimed] = {}
        self._tasks: set[asyncio.Task] = set()

    async def run(self, stop: asyncio.Event, drain: float = 30.0) -> None:
        """Answer updates until ``stop`` is set; then let the ones in hand finish (for up to
        ``drain`` seconds: the rest stay pending and are answered after the next start)."""
        renewer = asyncio.create_task(self._renew(stop))
        purged_at = None
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if purged_at is None or loop.time() - purged_at > PURGE_EVERY:
                purged_at = loop.time()
                await self._purge()
            self.wake.clear()
            free = self.capacity - len(self.held)
            claimed = await self._claim(free) if free > 0 else []
            for update in claimed:
                if update.id in self.held:  # its lease lapsed while we answer it: keep one
                    log.warning("the lease of update %s lapsed while it was being answered "
                                "(a slow renewal); it is renewed now", update.update_id)
                    continue
                self.held[update.id] = update
                task = asyncio.create_task(self._answer(update))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if claimed and len(self.held) < self.capacity:
                continue  # there may be more
            await _first(stop, self.wake, timeout=self.idle)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=drain)
        renewer.cancel()

    async def _claim(self, free: int) -> list[Claimed]:
        try:
            return await self.db("claim", self.owner, free, self.lease)
        except Exception:
            log.exception("could not claim updates from the inbox; trying again")
            return []

    async def _answer(self, claimed: Claimed) -> None:
        state = "done"
        try:
            if claimed.attempts > MAX_ATTEMPTS:
                log.error("update %s was tried %d times without being answered; giving up "
                          "on it", claimed.update_id, claimed.attempts - 1)
                state = "failed"
            else:
                update = Update.de_json(json.loads(claimed.payload), self.application.bot)
                await self.application.process_update(update)  # errors: the error handler
        except Exception:
            log.exception("update %s could not be handled", claimed.update_id)
            state = "failed"
        finally:
            try:
                if not await self.db("finish", self.owner, claimed.id, state):
                    log.warning("update %s was answered after its lease ran out; another "
                                "worker may have answered it too", claimed.update_id)
            except Exception:
                log.exception("could not mark update %s %s; it will be answered again",
                              claimed.update_id, state)
            self.held.pop(claimed.id, None)
            self.wake.set()  # that chat's next update can be claimed now

    async def _renew(self, stop: asyncio.Event) -> None:
        while not stop.is_set() or self.held:
            await asyncio.sleep(self.lease / 3)
            if self.held:
                try:
                    await self.db("renew", self.owner, list(self.held), self.lease)
                except Exception:
                    log.exception("could not renew the leases of %d updates", len(self.held))

    async def _purge(self) -> None:
        try:
            await self.db("purge", KEEP_DONE)
        except Exception:
            log.exception("could not purge answered updates from the inbox")


async def _first(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())}
    _, pending = await asyncio.wait(waits, timeout=timeout,
                                    return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()

"""Every Telegram update answered once, in order, across crashes and replicas.

PTB's Updater (long polling) hands each update to ``InboxQueue.put``, and the webhook server
(``WebhookServer``) each posted one to ``InboxQueue.record``, which records it in the inbox
(``qabot.history.inbox``) before returning: before the next ``getUpdates`` acknowledges it to
Telegram, or before the webhook answers 200. A crash before that point loses nothing (Telegram
delivers the update again); an update delivered again after it was recorded is recognised and
not recorded twice.

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

The same ``Dispatcher``, with another ``handle``, sends what the outbox holds (the journal
``telegram:out``: operator replies and release lines the operator desk stored, each recorded
in the same transaction as its message; ``telegram_io.deliver``): each chat's deliveries in the
order stored, each marked done once Telegram took it. Nothing stored is lost to a crash (the
lease lapses, the delivery is claimed again); a crash between the send and the done-mark sends
it once more, as for replies to updates (chats are sent to at once, so one crash may do that
for each chat with a delivery in hand: one copy per chat at most). A permanent refusal
(``BadRequest``: chat not found; ``Forbidden``: the user blocked the bot) is logged and marked
failed; a transient one (network,
5xx, 429 after the retries) leaves the delivery pending (``RETRY``): it is postponed by one
lease and sent again, for as long as Telegram cannot be reached (a passing failure does not
count towards ``MAX_ATTEMPTS``, which counts the tries a worker died in), and that chat's later
deliveries wait behind it.

What the inbox cannot keep is refused before anything is written (``parse_update``,
``check_update``): a webhook post that is not a JSON object holding an update, an update_id
outside the inbox column's 0..2**63-1, a chat key longer than its 64 characters, text that is
not valid Unicode. Nothing in it is temporary, so it is never retried: the webhook answers 400
at once (``WebhookServer``) and polling skips it (the next ``getUpdates`` acknowledges it),
each with one warning line. Telegram itself never sends one (its update ids are 32-bit, its
bodies JSON objects); it retries a non-2xx answer only a limited number of times, and a
refused post was never recorded, so it cannot hold up any chat's updates in the inbox.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from typing import Any

import tornado.web
from telegram import Bot, Update
from telegram.ext import Application, ExtBot
from tornado.httpserver import HTTPServer

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
# what the inbox table keeps (qabot.history.models.InboxUpdate): update_id is a signed 64-bit
# BIGINT, chat a VARCHAR(64); Telegram's update ids fit 32 bits, its chat ids 52 bits
MAX_UPDATE_ID = 2**63 - 1
CHAT_KEY_CHARS = 64
# what a ``Dispatcher``'s ``handle`` returns: mark the entry done, or failed, or leave it pending
# (not renewed, so its lease lapses and it is claimed again: a transient failure)
DONE, FAILED, RETRY = "done", "failed", "retry"


class BadUpdate(ValueError):
    """A post or an update the inbox cannot keep: refused, never recorded, never retried."""


def check_update(update: Update) -> str:
    """The update's payload for the inbox; ``BadUpdate`` when the inbox cannot keep it."""
    update_id = update.update_id
    if (isinstance(update_id, bool) or not isinstance(update_id, int)
            or not 0 <= update_id <= MAX_UPDATE_ID):
        raise BadUpdate(f"update_id {update_id!r:.40} is not an integer from 0 to 2**63-1")
    try:
        chat, payload = chat_key(update), json.dumps(update.to_dict(), ensure_ascii=False)
    except Exception as exc:  # an update PTB parsed but cannot read back
        raise BadUpdate(f"update {update_id} cannot be stored ({type(exc).__name__})") from None
    if len(chat) > CHAT_KEY_CHARS:
        raise BadUpdate(f"update {update_id}: its chat or user id has more than "
                        f"{CHAT_KEY_CHARS} characters")
    try:
        payload.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON): no database keeps it
        raise BadUpdate(f"update {update_id} holds text that is not valid Unicode") from None
    return payload


def parse_update(body: bytes, bot: Bot | None = None) -> Update:
    """A webhook post's body -> the update it carries; ``BadUpdate`` when it carries none the
    inbox can keep (``check_update`` is left to ``InboxQueue.record``)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, a 5000-digit number
        raise BadUpdate(f"the body is not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        raise BadUpdate(f"the body is JSON but not an object ({kind.get(type(data), 'a number')})")
    if "update_id" not in data:
        raise BadUpdate("the body is a JSON object without an update_id")
    try:
        update = Update.de_json(data, bot)
    except Exception as exc:  # whatever PTB's parser makes of foreign data
        raise BadUpdate(f"update {data['update_id']!r:.40} is not a Telegram update "
                        f"({type(exc).__name__})") from None
    if isinstance(bot, ExtBot):  # as PTB's own webhook does (arbitrary callback data)
        bot.insert_callback_data(update)
    return update


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
    """The queue PTB's Updater (polling) puts updates into, and ``WebhookServer`` records them
    in: ``record`` checks each (``check_update``), records it in the inbox and wakes the
    dispatcher; nothing is ever taken from the queue itself.

    While the database cannot be written, polling waits (retrying, so nothing is acknowledged)
    and the webhook answers 503 after ``patience`` seconds (Telegram posts it again)."""

    def __init__(self):
        super().__init__()
        self.db: InboxDb | None = None
        self.wake: asyncio.Event | None = None
        self.patience: float | None = None  # None: retry for ever (polling)

    def bind(self, db: InboxDb, wake: asyncio.Event, patience: float | None) -> None:
        self.db, self.wake, self.patience = db, wake, patience

    async def put(self, item) -> None:
        """Polling: record ``item``; one the inbox cannot keep is logged and skipped (the next
        ``getUpdates`` acknowledges it), never retried."""
        if not isinstance(item, Update):
            return
        try:
            await self.record(item)
        except BadUpdate as exc:
            log.warning("update refused, not recorded: %s", exc)

    async def record(self, item: Update) -> None:
        """Record ``item`` in the inbox, retrying while the database cannot be written (for
        ``patience`` seconds, then the error); ``BadUpdate`` at once, with nothing written,
        when the inbox cannot keep it."""
        payload = check_update(item)
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


class WebhookServer:
    """The webhook: Telegram posts each update here, and it is recorded in the inbox before
    the answer (200). Posts without the secret token (``X-Telegram-Bot-Api-Secret-Token``) get
    403; a body that is no update the inbox can keep gets 400 at once, with one log line and
    nothing recorded; an update the inbox could not be written for (``InboxQueue.patience``)
    gets 503, and Telegram posts it again.

    In place of PTB's ``Updater.start_webhook``, whose server parses the body itself: a body
    that is not JSON was a 500 and an update the inbox cannot keep a retry loop, a 500 and a
    traceback. The keyword arguments are the ones of ``start_webhook`` qabot uses: ``unix``
    is a listening socket to serve on (else ``listen``:``port``), and ``webhook_url`` is
    registered with Telegram (``setWebhook``) with ``secret_token`` and ``allowed_updates``."""

    def __init__(self, bot: Bot, queue: InboxQueue, *, webhook_url: str, secret_token: str,
                 url_path: str = "telegram", listen: str = "127.0.0.1", port: int = 80,
                 unix: socket.socket | None = None, allowed_updates: list[str] | None = None):
        self.bot, self.queue, self.secret = bot, queue, secret_token.encode()
        self.webhook_url, self.allowed_updates = webhook_url, allowed_updates
        self.listen, self.port, self.sock = listen, port, unix
        path = "/" + url_path.strip("/")
        app = tornado.web.Application([(rf"{path}/?", _WebhookHandler, dict(server=self))],
                                      log_function=lambda handler: None)  # we log what counts
        self.http = HTTPServer(app)

    async def start(self) -> None:
        """Serve, then tell Telegram where (updates posted meanwhile are taken already)."""
        if self.sock is not None:
            self.http.add_socket(self.sock)
        else:
            self.http.listen(self.port, address=self.listen)
        try:
            await self.bot.set_webhook(url=self.webhook_url, secret_token=self.secret.decode(),
                                       allowed_updates=self.allowed_updates)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Take no more posts (Telegram posts what was not answered 200 again, elsewhere or
        after the restart)."""
        self.http.stop()
        await self.http.close_all_connections()

    async def take(self, secret: str | None, body: bytes) -> int:
        """One post: its HTTP status."""
        if secret is None or not hmac.compare_digest(secret.encode(), self.secret):
            return 403
        try:
            await self.queue.record(parse_update(body, self.bot))
        except BadUpdate as exc:
            log.warning("webhook post refused (400), not recorded: %s", exc)
            return 400
        except Exception as exc:  # the inbox could not be written (logged while retried)
            first = (str(exc).splitlines() or [""])[0][:200]
            log.error("could not record a posted update (%s: %s); answering 503, Telegram "
                      "posts it again", type(exc).__name__, first)
            return 503
        return 200


class _WebhookHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("POST",)

    def initialize(self, server: WebhookServer) -> None:
        self.server = server

    async def post(self) -> None:
        secret = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        self.set_status(await self.server.take(secret, self.request.body))
        self.finish()  # no body: a JSON body with a "method" would be a Bot API call


class Dispatcher:
    """Claims entries of an inbox, handles each, marks them done (or failed).

    ``handle`` takes a claimed entry and returns ``DONE``, ``FAILED`` or ``RETRY`` (leave it
    pending, postponed by one lease, then claimed again: a passing failure); an
    exception marks it failed, logged. The default runs the Application's handlers on the
    recorded update (``process_update``). ``noun`` names the entries in log lines."""

    def __init__(self, application: Application, db: InboxDb, *, capacity: int = 32,
                 lease: float = 10.0, idle: float = 0.5, owner: str | None = None,
                 handle: Callable[[Claimed], Awaitable[str]] | None = None,
                 noun: str = "update"):
        self.application = application
        self.db = db
        self.capacity = capacity
        self.lease = lease
        self.idle = idle  # how often to look for updates other replicas recorded, or orphaned
        self.owner = owner or worker_name()
        self.handle = handle or self.process_update
        self.noun = noun
        self.wake = asyncio.Event()
        self.held: dict[int, Claimed] = {}
        self._tasks: set[asyncio.Task] = set()

    async def process_update(self, claimed: Claimed) -> str:
        """The default ``handle``: PTB's handlers on the recorded update (their errors go to
        the Application's error handler, so the update counts as answered)."""
        update = Update.de_json(json.loads(claimed.payload), self.application.bot)
        await self.application.process_update(update)
        return DONE

    async def run(self, stop: asyncio.Event, drain: float = 30.0) -> None:
        """Handle entries until ``stop`` is set; then let the ones in hand finish (for up to
        ``drain`` seconds: the rest stay pending and are handled after the next start)."""
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
            for entry in claimed:
                if entry.id in self.held:  # its lease lapsed while we answer it: keep one
                    log.warning("the lease of %s %s lapsed while it was being handled (a slow "
                                "renewal); it is renewed now", self.noun, entry.update_id)
                    continue
                self.held[entry.id] = entry
                task = asyncio.create_task(self._answer(entry))
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
            log.exception("could not claim %ss from the inbox; trying again", self.noun)
            return []

    async def _answer(self, claimed: Claimed) -> None:
        state = RETRY  # cancelled (at shutdown): left pending, handled after the next start
        try:
            if claimed.attempts > MAX_ATTEMPTS:
                log.error("%s %s was tried %d times without being handled; giving up on it",
                          self.noun, claimed.update_id, claimed.attempts - 1)
                state = FAILED
            else:
                state = await self.handle(claimed)
        except Exception:
            log.exception("%s %s could not be handled", self.noun, claimed.update_id)
            state = FAILED
        finally:
            await self._settle(claimed, state)

    async def _settle(self, claimed: Claimed, state: str) -> None:
        """Mark a handled entry ``state``; a ``RETRY`` is let go for one lease (``postpone``:
        a passing failure, not counted towards ``MAX_ATTEMPTS``), then claimed again."""
        if state == RETRY:
            try:
                await self.db("postpone", self.owner, claimed.id, self.lease)
            except Exception:  # its lease lapses all the same
                log.exception("could not postpone %s %s", self.noun, claimed.update_id)
        else:
            try:
                if not await self.db("finish", self.owner, claimed.id, state):
                    log.warning("%s %s was handled after its lease ran out; another worker "
                                "may have handled it too", self.noun, claimed.update_id)
            except Exception:
                log.exception("could not mark %s %s %s; it will be handled again", self.noun,
                              claimed.update_id, state)
        self.held.pop(claimed.id, None)
        if state != RETRY:
            self.wake.set()  # that chat's next entry can be claimed now

    async def _renew(self, stop: asyncio.Event) -> None:
        while not stop.is_set() or self.held:
            await asyncio.sleep(self.lease / 3)
            if self.held:
                try:
                    await self.db("renew", self.owner, list(self.held), self.lease)
                except Exception:
                    log.exception("could not renew the leases of %d %ss", len(self.held),
                                  self.noun)

    async def _purge(self) -> None:
        try:
            await self.db("purge", KEEP_DONE)
        except Exception:
            log.exception("could not purge handled %ss from the inbox", self.noun)


async def _first(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())}
    _, pending = await asyncio.wait(waits, timeout=timeout,
                                    return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()

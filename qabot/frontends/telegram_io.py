"""The Telegram front end's plumbing: the state handlers share (engine, settings, thread pool,
the outbox's wake-up), sending with retries and message splitting, the reply keyboard, and
keeping the bot token out of logs. Sending what the outbox holds (operator replies, release
lines: ``deliver``) is here too. The handlers are in ``telegram.py``; ordering and once-only
answering (and delivering) in ``telegram_inbox.py``."""

from __future__ import annotations

import asyncio
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import ContextTypes

from qabot.config import Settings
from qabot.dialogue.engine import ChatEngine
from qabot.dialogue.replies import Reply
from qabot.frontends.render import first_name, split_message, web_links
from qabot.frontends.telegram_inbox import DONE, FAILED, RETRY

CHANNEL = "telegram"
SEND_RETRIES = 3
# what the user reads of an operator's reply (kind "operator"): who wrote it, then the text
OPERATOR_MESSAGE = "{name} from the support team:\n\n{text}"
log = logging.getLogger("qabot.telegram")


class BotState:
    """What the handlers share: the engine, settings and the thread pool models run in."""

    def __init__(self, engine: ChatEngine, settings: Settings,
                 executor: ThreadPoolExecutor | None = None):
        self.engine = engine
        self.settings = settings
        self.executor = executor or ThreadPoolExecutor(max_workers=2,
                                                       thread_name_prefix="qabot-engine")
        # the outbox dispatcher's wake-up (``serve`` sets it): a handler that stored a message
        # to deliver (an operator's /reply, a release) rings it instead of waiting for a poll
        self.outbox_wake: asyncio.Event | None = None

    def deliveries_waiting(self) -> None:
        """Tell the outbox's dispatcher that something was stored for delivery."""
        if self.outbox_wake is not None:
            self.outbox_wake.set()

    async def run(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, partial(fn, *args, **kwargs))

    async def conversation(self, update: Update) -> int:
        user = update.effective_user
        return await self.run(self.engine.start, CHANNEL, str(user.id), user.full_name)

    def is_admin(self, update: Update) -> bool:
        user = update.effective_user
        return user is not None and user.id in self.settings.telegram_admin_ids

    def is_operator(self, update: Update) -> bool:
        chat = update.effective_chat
        return ((chat is not None and chat.id == self.settings.telegram_operator_chat)
                or self.is_admin(update))


def _state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    return context.application.bot_data["qabot"]


# -------------------------------------------------------------------- sending


async def _retrying(call, *, idempotent: bool = True):
    """Retry a Bot API call on what can succeed on retry: a dropped connection, a 5xx, and
    (``RetryAfter``) a 429 the rate limiter gave up on. Never a ``BadRequest`` ("chat not
    found", "message is not modified": the same call fails the same way) nor a ``Forbidden``.

    A timeout of a call that is not idempotent (``send_message``) may have been carried out:
    it is not retried, so that the user never gets the same reply twice; it is logged as
    possibly undelivered and counts as sent."""
    for attempt in range(SEND_RETRIES + 1):
        try:
            return await call()
        except RetryAfter as exc:  # the rate limiter gave up: wait as told, once more
            if attempt == SEND_RETRIES:
                raise
            await asyncio.sleep(exc.retry_after.total_seconds()
                                if hasattr(exc.retry_after, "total_seconds")
                                else float(exc.retry_after))
        except BadRequest:
            raise
        except TimedOut:
            if not idempotent:
                log.warning("a Bot API call timed out and may not have been delivered; not "
                            "sent again, so that it cannot arrive twice")
                return None
            if attempt == SEND_RETRIES:
                raise
            await asyncio.sleep(0.2 * 2**attempt)
        except NetworkError:
            if attempt == SEND_RETRIES:
                raise
            await asyncio.sleep(0.2 * 2**attempt)


async def send(bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None, *,
               reply_to: int | None = None) -> None:
    """Send ``text``, split at 4,096 characters on paragraph boundaries; buttons on the last.
    ``reply_to``: the user's message it answers (quoted above the first piece, so a user who
    sent several questions sees which answer is which; sent anyway if it was deleted)."""
    pieces = split_message(text)
    quote = (ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
             if reply_to is not None else None)
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        await _retrying(partial(bot.send_message, chat_id, piece,
                                reply_markup=markup if last else None,
                                reply_parameters=quote if i == 0 else None),
                        idempotent=False)


# -------------------------------------------------------------------- the outbox


def delivery_message(payload: str) -> tuple[int, str]:
    """An outbox entry (``history.desk.Delivery`` as JSON) -> (the user's chat, what they
    read): an operator's reply under ``OPERATOR_MESSAGE`` (their first name only), a release
    line (any other kind) as it is."""
    from qabot.app import delivery

    entry = delivery(payload)
    text = entry.text
    if entry.kind == "operator":
        text = OPERATOR_MESSAGE.format(name=first_name(entry.author), text=text)
    return int(entry.user), text


async def deliver(bot, claimed) -> str:
    """Send one outbox entry to its user (the outbox dispatcher's ``handle``): ``DONE`` once
    Telegram took it; ``FAILED`` for a chat that can never get it (chat not found, the bot
    blocked: logged); ``RETRY`` for what may pass (network, 5xx, 429 after the retries):
    it is postponed by one lease and sent again, for as long as that lasts."""
    chat, text = delivery_message(claimed.payload)
    try:
        await send(bot, chat, text)
    except (BadRequest, Forbidden, ChatMigrated) as exc:  # before NetworkError: BadRequest is one
        log.error("message %s cannot be delivered to chat %s: %s; given up", claimed.update_id,
                  chat, exc)
        return FAILED
    except TelegramError as exc:
        log.warning("message %s could not be delivered to chat %s: %s: %s; it is sent again "
                    "after a lease", claimed.update_id, chat, type(exc).__name__, exc)
        return RETRY
    return DONE


RATEABLE = ("answer", "faq", "related")  # replies that get 👍 / 👎
BUTTON_CHARS = 60  # an article button's title is cut to this


def link_rows(sources) -> list[list[InlineKeyboardButton]]:
    """One URL button per cited article with a web URL (``render.web_links``: only http(s)
    URLs ever become buttons), titled with the article's title."""
    return [[InlineKeyboardButton(title if len(title) <= BUTTON_CHARS
                                  else title[: BUTTON_CHARS - 1] + "…", url=url)]
            for title, url in web_links(sources)]


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """👍 / 👎 for answers, FAQ answers and related replies (callback data 'up:ID' etc.; ID:
    the stored message); Sources for answers; the articles of a related reply as URL
    buttons."""
    if reply.kind not in RATEABLE:
        return None
    rows = [[InlineKeyboardButton("👍", callback_data=f"up:{reply.message_id}"),
             InlineKeyboardButton("👎", callback_data=f"down:{reply.message_id}")]]
    if reply.kind == "answer" and reply.sources:
        rows.append([InlineKeyboardButton("Sources", callback_data=f"src:{reply.message_id}")])
    if reply.kind == "related":
        rows += link_rows(reply.sources)
    return InlineKeyboardMarkup(rows)


def voted_keyboard(kind: str | None, message_id: int, sources) -> InlineKeyboardMarkup | None:
    """The buttons a reply keeps once rated: Sources for an answer, the article links of a
    related reply; nothing else."""
    rows = ([[InlineKeyboardButton("Sources", callback_data=f"src:{message_id}")]]
            if kind == "answer" else link_rows(sources) if kind == "related" else [])
    return InlineKeyboardMarkup(rows) if rows else None


class RedactToken(logging.Filter):
    """Keep the bot token out of every log line and traceback."""

    def __init__(self, token: str):
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        if record.exc_info and not record.exc_text:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = text.replace(self.token, "<token>").rstrip("\n")
        elif record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "<token>")
        return True


def protect_token(token: str) -> None:
    """Redact the token in every handler of the root logger; quiet httpx's URL logging."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    redact = RedactToken(token)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactToken) for f in handler.filters):
            handler.addFilter(redact)

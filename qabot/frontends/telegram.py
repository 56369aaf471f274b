"""The Telegram front end: a thin adapter over ChatEngine (python-telegram-bot v22, async).

Every engine call (models, SQL) runs in a thread pool, so one slow answer never blocks other
chats. Updates are recorded in the history database's inbox before Telegram is told they
arrived, and answered from there: each once, each chat's in order, across crashes and across
replicas on one database (``telegram_inbox.py``). Replies carry 👍 / 👎 and "Sources" buttons
whose callback data refer to stored message ids. The handlers are wired in
``build_application``; ``serve`` runs them (polling or webhook).

Live handoff: operators write to a handed-off user with ``/reply ID text`` (here, in the
operator chat) or from the dashboard; ``/release ID`` (or the button) gives the conversation
back to the bot. Both go through the operator desk (``app.operator_desk``), which stores the
message and, in the same transaction, its delivery in the outbox; ``serve`` runs a second
dispatcher over the outbox that sends each (``telegram_io.deliver``): each chat's in the order
stored, once, across crashes (a crash between the send and the done-mark sends it once more, as
for replies). One more window: a ``/reply`` update handled again after a crash (the window
above) stores the reply again, so the user reads it twice. Admins teach the bot an FAQ answer
with ``/answer`` (``app.add_operator_answers``: saved to the managed sheet, then reindexed).
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from qabot.app import add_operator_answers, operator_desk, outbox, update_inbox
from qabot.app import reindex as reindex_service
from qabot.config import Settings
from qabot.dialogue.engine import ChatEngine
from qabot.dialogue.handoff import RELEASED_LINE
from qabot.errors import NotIndexedError, OperatorAnswerError, QabotError
from qabot.frontends.render import RELATED_LABEL, related_text, sources_text, transcript
from qabot.frontends.telegram_inbox import Dispatcher, InboxDb, InboxQueue, WebhookServer
from qabot.frontends.telegram_io import (
    CHANNEL,
    BotState,
    _retrying,
    _state,
    deliver,
    keyboard,
    protect_token,
    send,
    voted_keyboard,
)

log = logging.getLogger(__name__)

START = ("Hi {name}! I'm an automated support assistant. Ask me anything about the product "
         "and I'll answer from the help centre, with the source.\n\n{help}")
HELP = ("/reset starts a new conversation, /human connects you with a person, /forget deletes "
        "your history. Rate a reply with 👍 or 👎; 'Sources' shows where an answer came from.")
UNKNOWN = "Sorry, I don't know that command. Send /help to see what I can do."
NOT_TEXT = "I can only read text messages. Please type your question."
FALLBACK = "Sorry, something went wrong on my side. Please try again in a moment."
HANDED_OFF = "I've asked a person from our support team to take over. They'll reply here."
RELEASED = RELEASED_LINE  # what the user reads when an operator gives them back to the bot
RELEASE_USAGE = "Usage: /release ID"
REPLY_USAGE = "Usage: /reply ID text (the text may go on over several lines)"
ANSWER_USAGE = ("Usage: /answer QUESTION, then the answer on the following lines; lines "
                "starting with 'also:' add other phrasings of the question.")
MAX_ID = 2**63 - 1  # the largest id the database stores
TYPING_AFTER = 0.3  # seconds: answers slower than this show the typing indicator


class TelegramSetupError(QabotError):
    """The Telegram front end cannot start (no token, ...)."""


async def _notify_operator(state: BotState, bot, update: Update, conversation: int) -> None:
    """Send the transcript to the operator chat, with a Release button."""
    chat = state.settings.telegram_operator_chat
    if chat is None:
        log.warning("conversation %s was handed off, but no operator chat is configured "
                    "(QABOT_TELEGRAM_OPERATOR_CHAT)", conversation)
        return
    user = update.effective_user
    messages = await state.run(state.engine.transcript, conversation, 40)
    header = (f"Conversation {conversation} asks for a person: {user.full_name} "
              f"(@{user.username or '-'}, id {user.id}). /reply {conversation} <text> "
              f"writes to them; /release {conversation} gives it back to the bot.")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton(
        "Release to the bot", callback_data=f"rel:{conversation}")]])
    try:
        await send(bot, chat, transcript(messages, header), markup)
    except TelegramError as exc:  # the user's handoff stands; the operators can /stats it
        log.error("conversation %s was handed off, but the operator chat %s could not be "
                  "told: %s", conversation, chat, exc)


def _conversation_arg(text: str) -> int | None:
    """A conversation id a command names, or None when it is not one."""
    return int(text) if text.isdigit() and 0 < int(text) <= MAX_ID else None


def parse_answer(text: str) -> tuple[str, str, list[str]] | None:
    """``/answer QUESTION`` + the answer on the following lines (lines starting ``also:``:
    other phrasings) -> (question, answer, phrasings); None without a question or an answer."""
    first, _, rest = (text or "").replace("\r\n", "\n").partition("\n")
    words = first.split(None, 1)
    question = words[1].strip() if len(words) == 2 else ""
    also, lines = [], []
    for line in rest.split("\n"):
        if line.strip().casefold().startswith("also:"):
            also.append(line.strip()[len("also:"):].strip())
        else:
            lines.append(line)
    answer = "\n".join(lines).strip()
    return (question, answer, also) if question and answer else None


def reply_text(reply) -> str:
    """What the user reads: the reply's text (a notice first, when there is one); a related
    reply marked as a suggestion, with the candidate in «» inside its excerpt."""
    if reply.kind == "related":
        notice = f"{reply.notice}\n\n" if reply.notice else ""
        return f"{notice}💡 {RELATED_LABEL}\n\n{related_text(reply.body, reply.sources)}"
    return reply.text


# -------------------------------------------------------------------- handlers


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet the user and say what the bot can do."""
    state = _state(context)
    await state.conversation(update)
    await send(context.bot, update.effective_chat.id,
               START.format(name=update.effective_user.first_name, help=HELP))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List what the bot can do."""
    await send(context.bot, update.effective_chat.id, HELP)


async def reset(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Start a new conversation."""
    state = _state(context)
    await state.run(state.engine.reset, await state.conversation(update))
    await send(context.bot, update.effective_chat.id,
               "New conversation started. What can I help you with?")


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delete the user's whole history."""
    state = _state(context)
    await state.run(state.engine.forget, CHANNEL, str(update.effective_user.id))
    await send(context.bot, update.effective_chat.id,
               "Your conversation history has been deleted.")


async def human(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Hand the conversation to a person."""
    state = _state(context)
    conversation = await state.conversation(update)
    await state.run(state.engine.hand_off, conversation, "/human", said="/human",
                    reply=HANDED_OFF)
    await send(context.bot, update.effective_chat.id, HANDED_OFF)
    await _notify_operator(state, context.bot, update, conversation)


async def release(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Operators: give a conversation back to the bot (/release ID)."""
    state = _state(context)
    if not state.is_operator(update):
        return await unknown(update, context)
    args = context.args or []
    conversation = _conversation_arg(args[0]) if len(args) == 1 else None
    if conversation is None:
        return await send(context.bot, update.effective_chat.id, RELEASE_USAGE)
    await _release(state, context.bot, update, conversation)


async def _release(state: BotState, bot, update: Update, conversation: int) -> None:
    """Give the conversation back through the desk: the user's line (``RELEASED``) is stored
    and delivered by the outbox, once, on whatever channel the user is on."""
    desk = operator_desk(state.engine)
    released = await state.run(desk.release, conversation,
                               f"telegram:{update.effective_user.id}", RELEASED)
    if released is None:
        return await send(bot, update.effective_chat.id,
                          f"Conversation {conversation} is not handed off.")
    state.deliveries_waiting()
    await send(bot, update.effective_chat.id, f"Conversation {conversation} is back with the bot.")


async def reply_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Operators: write to the user of a handed-off conversation (/reply ID text)."""
    state = _state(context)
    if not state.is_operator(update):
        return await unknown(update, context)
    chat = update.effective_chat.id
    words = (update.message.text or "").split(None, 2)  # the command, the id, the text
    conversation = _conversation_arg(words[1]) if len(words) == 3 else None
    if conversation is None:
        return await send(context.bot, chat, REPLY_USAGE)
    desk = operator_desk(state.engine)
    try:
        await state.run(desk.reply, conversation, words[2],
                        author=update.effective_user.full_name,
                        key=f"{CHANNEL}:{update.update_id}")  # handled again: stored once
    except QabotError as exc:  # DeskError: empty, too long, not handed off, no such one
        return await send(context.bot, chat, f"Not sent: {exc}.")
    state.deliveries_waiting()
    await send(context.bot, chat, f"Sent to conversation {conversation}.")


async def answer_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admins: teach the bot an FAQ answer (/answer QUESTION, the answer on the next lines)."""
    state = _state(context)
    if not state.is_admin(update):
        return await unknown(update, context)
    chat = update.effective_chat.id
    parsed = parse_answer(update.message.text)
    if parsed is None:
        return await send(context.bot, chat, ANSWER_USAGE)
    question, text, also = parsed
    try:
        taught = await state.run(add_operator_answers, state.settings, question, text,
                                 also=also, author=update.effective_user.full_name,
                                 engine=state.engine)
    except OperatorAnswerError as exc:  # nothing was saved
        return await send(context.bot, chat, f"Not saved: {exc}.")
    except NotIndexedError as exc:  # saved; the next reindex indexes it
        return await send(context.bot, chat, str(exc))
    saved = "\n".join(f"• {a.question}" for a in taught.answers)
    resolved = (f"\n{taught.resolved} unanswered question(s) it covers left the unanswered "
                "list." if taught.resolved else "")
    await send(context.bot, chat, f"Saved to {taught.sheet.name}:\n{saved}\n{taught.summary}"
                                  f"{resolved}")


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admins: conversations, answer rate and feedback."""
    state = _state(context)
    if not state.is_admin(update):
        return await unknown(update, context)
    s = await state.run(state.engine.stats)
    await send(context.bot, update.effective_chat.id,
               f"{s.users} users, {s.conversations} conversations, {s.messages_in} messages.\n"
               f"Answered {s.answered}, unanswered {s.unanswered} (answer rate "
               f"{s.answer_rate:.0%}; {s.related} related suggestions among the unanswered), "
               f"handoffs {s.handoffs}.\n"
               f"Feedback: 👍 {s.feedback_up}, 👎 {s.feedback_down}.")


async def unanswered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admins: the latest questions the bot could not answer."""
    state = _state(context)
    if not state.is_admin(update):
        return await unknown(update, context)
    questions = await state.run(state.engine.unanswered, 15)
    text = "\n".join(f"{q.created_at:%Y-%m-%d %H:%M} {q.question}" for q in questions)
    await send(context.bot, update.effective_chat.id, text or "No unanswered questions.")


async def reindex(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admins: rebuild the index from the knowledge-base folder and swap it in."""
    state = _state(context)
    if not state.is_admin(update):
        return await unknown(update, context)
    if state.settings.kb_dir is None:
        return await send(context.bot, update.effective_chat.id,
                          "No knowledge-base folder is configured (QABOT_KB_DIR).")
    await send(context.bot, update.effective_chat.id, "Reindexing ...")
    try:
        summary = await state.run(reindex_service, state.engine, state.settings)
    except Exception as exc:  # the old index stays live; say why
        log.exception("reindex failed")
        summary = f"Reindex failed, the previous index stays in use: {exc}"
    await send(context.bot, update.effective_chat.id, summary)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text message through the engine."""
    state = _state(context)
    chat_id = update.effective_chat.id
    conversation = await state.conversation(update)
    answer = asyncio.ensure_future(state.run(state.engine.respond, conversation,
                                             update.message.text,
                                             update_key=f"{CHANNEL}:{update.update_id}"))
    finished, _ = await asyncio.wait({answer}, timeout=TYPING_AFTER)
    if not finished:  # a slow answer: show "typing..." while it is computed
        await _retrying(partial(context.bot.send_chat_action, chat_id, ChatAction.TYPING))
    reply = await answer
    if reply.silent:
        return
    await send(context.bot, chat_id, reply_text(reply), keyboard(reply),
               reply_to=update.message.message_id)
    if reply.kind == "handoff":
        await _notify_operator(state, context.bot, update, conversation)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Inline buttons: 👍 / 👎 feedback, Sources, and the operators' Release."""
    state = _state(context)
    query = update.callback_query
    kind, _, ident = (query.data or "").partition(":")
    if not ident.isdigit():
        return await query.answer()
    if kind == "rel":
        if not state.is_operator(update):
            return await query.answer()
        await query.answer("Released")
        return await _release(state, context.bot, update, int(ident))
    owner = await state.run(state.engine.owner_of_message, int(ident))
    if owner != (CHANNEL, str(update.effective_user.id)):
        return await query.answer("That message is not yours.")
    if kind in ("up", "down"):
        await state.run(state.engine.feedback, int(ident), kind == "up")
        await query.answer("Thanks for the feedback!")
        stored = await state.run(state.engine.message, int(ident))
        markup = (voted_keyboard(stored.kind, int(ident), stored.sources) if stored
                  else None)
        await _retrying(partial(query.edit_message_reply_markup, reply_markup=markup))
    elif kind == "src":
        stored = await state.run(state.engine.message, int(ident))
        await query.answer()
        await send(context.bot, update.effective_chat.id,
                   sources_text(stored.sources if stored else ()))
    else:
        await query.answer()


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Photos, stickers, voice, documents, ...: say that only text is read."""
    await send(context.bot, update.effective_chat.id, NOT_TEXT)


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Commands the user may not use or that do not exist (admin commands give no hint)."""
    await send(context.bot, update.effective_chat.id, UNKNOWN)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error with its traceback and send the user a polite fallback."""
    log.error("update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await send(context.bot, update.effective_chat.id, FALLBACK)
        except TelegramError:
            log.warning("could not send the fallback reply to chat %s", update.effective_chat.id)


# -------------------------------------------------------------------- wiring


def build_application(engine: ChatEngine, settings: Settings, *, base_url: str | None = None,
                      executor: ThreadPoolExecutor | None = None,
                      rate_limit: float = 30.0) -> Application:
    """The PTB Application with every handler wired (polling or webhook: the caller's choice).
    ``base_url`` points PTB at another Bot API server (a local one, or a test fake)."""
    if not settings.telegram_token:
        raise TelegramSetupError("no Telegram bot token: set QABOT_TELEGRAM_TOKEN "
                                 "(from @BotFather)")
    protect_token(settings.telegram_token)
    builder = (Application.builder().token(settings.telegram_token)
               .update_queue(InboxQueue())  # updates are recorded, then claimed (serve)
               .rate_limiter(AIORateLimiter(overall_max_rate=rate_limit,
                                            overall_time_period=1, max_retries=3)))
    if base_url:
        builder = builder.base_url(base_url).base_file_url(base_url.replace("/bot", "/file/bot"))
    application = builder.build()
    application.bot_data["qabot"] = BotState(engine, settings, executor)

    new = filters.UpdateType.MESSAGE  # edited messages are ignored
    private = filters.ChatType.PRIVATE
    for name, handler in (("start", start), ("help", help_command), ("reset", reset),
                          ("forget", forget), ("human", human)):
        application.add_handler(CommandHandler(name, handler, filters=new & private))
    for name, handler in (("release", release), ("reply", reply_command), ("stats", stats),
                          ("unanswered", unanswered), ("reindex", reindex),
                          ("answer", answer_command)):
        application.add_handler(CommandHandler(name, handler, filters=new))
    application.add_handler(MessageHandler(new & private & filters.TEXT & ~filters.COMMAND,
                                           on_text))
    application.add_handler(MessageHandler(new & private & filters.COMMAND, unknown))
    application.add_handler(MessageHandler(
        new & private & (filters.PHOTO | filters.Sticker.ALL | filters.VOICE | filters.AUDIO
                         | filters.VIDEO | filters.VIDEO_NOTE | filters.Document.ALL
                         | filters.LOCATION | filters.CONTACT | filters.ANIMATION),
        on_other))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_error_handler(on_error)
    return application


def check_webhook_secret(secret_token: str | None) -> str:
    """A webhook needs the secret Telegram sends back in ``X-Telegram-Bot-Api-Secret-Token``:
    without it anyone who finds the URL could post forged updates (an admin's user id, /reindex,
    /unanswered). One secret for every replica, so it is given, never generated here."""
    if not secret_token:
        raise TelegramSetupError(
            "webhook mode needs a secret token: set QABOT_TELEGRAM_WEBHOOK_SECRET (or "
            "--secret-token) to 1-256 characters from A-Z, a-z, 0-9, _ and -, the same on "
            "every replica; updates without it are refused")
    if not _SECRET.fullmatch(secret_token):
        raise TelegramSetupError(
            f"the webhook secret token must be 1-256 characters from A-Z, a-z, 0-9, _ and - "
            f"(Telegram's rule); got {len(secret_token)} characters with others among them")
    return secret_token


_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


async def serve(application: Application, stop: asyncio.Event, *,
                webhook: dict | None = None, poll_timeout: float = 30.0,
                ready: asyncio.Event | None = None) -> None:
    """Take updates (long polling, or the webhook server ``webhook`` describes: the keyword
    arguments of ``telegram_inbox.WebhookServer``, those of PTB's ``start_webhook`` qabot uses)
    into the inbox and answer them, and deliver what the outbox holds (operator replies, release
    lines), until ``stop`` is set; then stop taking updates and let the ones in hand finish.
    A token the Bot API server rejects is a ``TelegramSetupError`` that does not show it
    (PTB's own error quotes it)."""
    state: BotState = application.bot_data["qabot"]
    if webhook:
        check_webhook_secret(webhook.get("secret_token"))
    db = InboxDb(update_inbox(state.engine, CHANNEL))
    outbox_db = InboxDb(outbox(state.engine, CHANNEL))
    settings = state.settings
    dispatcher = Dispatcher(application, db, capacity=settings.telegram_workers,
                            lease=settings.telegram_lease_seconds)
    # what operators stored for Telegram users (the desk's outbox), sent in the same way
    delivery = Dispatcher(application, outbox_db, capacity=settings.telegram_workers,
                          lease=settings.telegram_lease_seconds, owner=dispatcher.owner,
                          handle=partial(deliver, application.bot), noun="delivery")
    state.outbox_wake = delivery.wake
    application.update_queue.bind(db, dispatcher.wake, patience=10.0 if webhook else None)
    try:
        async with application:
            if webhook:
                server = WebhookServer(application.bot, application.update_queue, **webhook)
                await server.start()
            else:
                await application.updater.start_polling(
                    poll_interval=0.0, timeout=poll_timeout, allowed_updates=Update.ALL_TYPES)
            log.info("Application started (%s, worker %s)",
                     "webhook" if webhook else "long polling", dispatcher.owner)
            answering = asyncio.create_task(dispatcher.run(stop))
            delivering = asyncio.create_task(delivery.run(stop))
            following = asyncio.create_task(_follow_index(state.engine, stop))
            if ready is not None:
                ready.set()
            try:
                await stop.wait()
            finally:
                if webhook:
                    await server.stop()
                else:
                    await application.updater.stop()  # acknowledges what was recorded
            await answering
            await delivering
            await following
            log.info("Application stopped")
    except InvalidToken:
        raise TelegramSetupError(
            "the Bot API server rejected the bot token: check QABOT_TELEGRAM_TOKEN (from "
            "@BotFather; QABOT_TELEGRAM_BASE_URL when the server is your own)") from None
    finally:
        state.outbox_wake = None
        db.close()
        outbox_db.close()


async def _follow_index(engine: ChatEngine, stop: asyncio.Event, every: float = 1.0) -> None:
    """Pick up index generations other processes commit (an outside `qabot-index build`,
    another replica's /reindex) even while nobody asks anything."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(engine.follow_index)
        except Exception:
            log.exception("could not check the index for a new generation")
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass


def run(engine: ChatEngine, settings: Settings, *, webhook_url: str | None = None,
        listen: str = "0.0.0.0", port: int = 8443, secret_token: str | None = None,
        sock: socket.socket | None = None) -> None:
    """Run until SIGINT or SIGTERM: long polling, or a webhook server behind ``webhook_url``
    that registers ``secret_token`` with Telegram and refuses (403) posts without it, and
    (400) a body that is no update (``telegram_inbox.WebhookServer``). The webhook server
    listens on ``listen``:``port``, or, given ``sock``, on that listening TCP socket instead
    (``qabot telegram --fd``: a socket bound by the process that started this one, as the
    tests do, so no port is chosen twice)."""
    if webhook_url:
        check_webhook_secret(secret_token)
    application = build_application(engine, settings, base_url=settings.telegram_base_url)
    webhook = None
    if webhook_url:
        address = dict(listen=listen, port=port)
        if sock is not None:  # ``unix`` (as in PTB's start_webhook): a socket of any family
            sock.setblocking(False)  # tornado accepts in a loop until it would block
            address = dict(unix=sock)
        webhook = dict(address, url_path="telegram",
                       webhook_url=webhook_url.rstrip("/") + "/telegram",
                       secret_token=secret_token, allowed_updates=Update.ALL_TYPES)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(application, stop, webhook=webhook)

    asyncio.run(main())

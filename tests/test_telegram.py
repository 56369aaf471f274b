"""The Telegram front end: the real PTB Application against a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from qabot.app import update_inbox
from qabot.config import Settings
from qabot.dialogue.handoff import back_notice
from qabot.dialogue.replies import Reply, Source
from qabot.frontends import telegram as tg
from qabot.frontends.render import split_message, transcript
from tests.fake_telegram import FakeTelegram
from tests.fakes import related_confidences
from tests.net import listening_socket, port_of
from tests.telegram_harness import BotRunner
from tests.waiting import wait_until

USER, OTHER, ADMIN, OPERATORS = 42, 43, 7, -100
QUESTION = "When can annual payments be refunded?"


@pytest.fixture
def fake():
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def bot(make_engine, fake):
    """The bot with the fake-model engine; ``bot.restart()`` starts a new Application."""
    settings = Settings(telegram_token=fake.token, telegram_operator_chat=OPERATORS,
                        telegram_admin_ids=(ADMIN,), answer_confidence=0.0)
    engine = make_engine()
    engine.settings = replace(engine.settings, **{k: getattr(settings, k) for k in (
        "telegram_token", "telegram_operator_chat", "telegram_admin_ids")})

    class Bot:
        def __init__(self):
            self.engine = engine
            self.runner = BotRunner(engine, engine.settings, fake).start()

        def restart(self):
            self.runner.stop()
            self.runner = BotRunner(self.engine, self.engine.settings, fake).start()

        @property
        def state(self):
            return self.runner.application.bot_data["qabot"]

    b = Bot()
    yield b
    b.runner.stop()


def _replies(fake, chat, n, timeout=20.0):
    fake.wait_for(lambda sent: len([s for s in sent if s.method == "sendMessage"
                                    and s.chat_id == chat]) >= n, timeout)
    return fake.messages_to(chat)


def _all_handled(engine, updates: int, timeout: float = 60.0) -> None:
    """Wait until the bot has recorded ``updates`` updates and finished handling every one
    (each is marked done in the inbox only after its handlers returned): whatever they were
    going to send has been sent. What comes before a check that something was not sent."""
    inbox = update_inbox(engine, "telegram")

    def handled():
        counts = inbox.counts()
        return counts.pending == 0 and counts.done + counts.failed >= updates

    wait_until(handled, timeout, message=lambda: f"{updates} updates, inbox {inbox.counts()}")


def test_question_gets_a_cited_answer_with_buttons_and_feedback_is_stored(bot, fake,
                                                                         monkeypatch):
    monkeypatch.setattr(tg, "TYPING_AFTER", 0.0)  # every answer counts as slow here
    fake.user_message(USER, "/start")
    fake.user_message(USER, QUESTION)
    start, answer = _replies(fake, USER, 2)
    assert start.text.startswith("Hi Ann!") and "/human" in start.text
    assert answer.text.startswith("30 days") and "Source: refunds.md" in answer.text
    assert any(s.method == "sendChatAction" and s.chat_id == USER for s in fake.sent)
    buttons = [b["callback_data"] for row in answer.reply_markup["inline_keyboard"] for b in row]
    message_id = int(buttons[0].split(":")[1])
    assert buttons == [f"up:{message_id}", f"down:{message_id}", f"src:{message_id}"]
    assert all(len(b.encode()) <= 64 for b in buttons)
    fake.callback(USER, f"up:{message_id}")
    fake.wait_for(lambda sent: any(s.method == "editMessageReplyMarkup" for s in sent))
    assert any(s.method == "answerCallbackQuery" and "Thanks" in s.params.get("text", "")
               for s in fake.sent)
    (rated,) = bot.engine.history.rated_answers(1)
    assert rated.message_id == message_id
    # someone else cannot rate it
    fake.callback(OTHER, f"down:{message_id}")
    fake.wait_for(lambda sent: any("not yours" in s.params.get("text", "") for s in sent))
    _all_handled(bot.engine, len(fake.queued_at))
    assert bot.engine.history.stats().feedback_down == 0
    # the Sources button shows the passage with the answer marked
    fake.callback(USER, f"src:{message_id}")
    sources = _replies(fake, USER, 3)[-1]
    assert sources.text.startswith("[1] refunds.md") and "«30 days»" in sources.text


def test_human_sends_the_transcript_to_operators_until_released(bot, fake):
    fake.user_message(USER, QUESTION)
    _replies(fake, USER, 1)
    fake.user_message(USER, "/human")
    assert _replies(fake, USER, 2)[-1].text == tg.HANDED_OFF
    (note,) = _replies(fake, OPERATORS, 1)
    assert f"user: {QUESTION}" in note.text and "bot: 30 days" in note.text
    release_button = note.reply_markup["inline_keyboard"][0][0]["callback_data"]
    # the bot stays quiet in that conversation
    fake.user_message(USER, "hello?")
    fake.user_message(OTHER, "hello")  # other chats go on
    _replies(fake, OTHER, 1)
    # only operators may release: for the user the command does not exist
    fake.user_message(USER, f"/release {release_button.split(':')[1]}")
    assert _replies(fake, USER, 3)[-1].text == tg.UNKNOWN
    # the chat's updates are handled in order: "hello?" was, before the command was answered
    assert len(fake.messages_to(USER)) == 3  # so nothing answered "hello?"
    fake.callback(OPERATORS, release_button, user_id=99)
    assert _replies(fake, USER, 4)[-1].text == tg.RELEASED
    fake.user_message(USER, QUESTION)
    assert _replies(fake, USER, 5)[-1].text.startswith("30 days")


def test_a_handoff_intent_and_the_release_command(bot, fake):
    fake.user_message(USER, "I want to talk to a person")
    assert _replies(fake, USER, 1)[0].text.startswith("I'm connecting you")
    (note,) = _replies(fake, OPERATORS, 1)
    conversation = note.text.split()[1]
    fake.user_message(OPERATORS, f"/release {conversation}", user_id=99, chat_type="group")
    assert "is back with the bot" in _replies(fake, OPERATORS, 2)[-1].text
    assert _replies(fake, USER, 2)[-1].text == tg.RELEASED


def test_a_handoff_no_one_answers_goes_back_to_the_bot_with_a_line_first(bot, fake):
    now = [datetime(2025, 3, 4, 9, 0, tzinfo=UTC)]  # the engine's and the history's clock
    bot.engine.clock = bot.engine.history.clock = lambda: now[0]
    fake.user_message(USER, "/human")
    assert _replies(fake, USER, 1)[-1].text == tg.HANDED_OFF
    now[0] += timedelta(minutes=59)
    fake.user_message(USER, "hello?")
    _all_handled(bot.engine, 2)
    assert len(fake.messages_to(USER)) == 1  # quiet while the team may still answer
    now[0] += timedelta(minutes=2)
    fake.user_message(USER, QUESTION)
    back = _replies(fake, USER, 2)[-1]
    assert back.text.startswith(back_notice(60) + "\n\n30 days")
    assert "Source: refunds.md" in back.text


def test_admin_commands_only_for_admins(bot, fake):
    for command in ("/stats", "/unanswered", "/reindex", "/nonsense"):
        fake.user_message(USER, command)
    replies = _replies(fake, USER, 4)
    assert [r.text for r in replies] == [tg.UNKNOWN] * 4  # no hint that they exist
    fake.user_message(ADMIN, QUESTION)
    fake.user_message(ADMIN, "/stats")
    fake.user_message(ADMIN, "Who founded the company originally?")
    fake.user_message(ADMIN, "/unanswered")
    fake.user_message(ADMIN, "/reindex")
    replies = _replies(fake, ADMIN, 5)
    assert "Answered 1, unanswered 0" in replies[1].text
    assert replies[3].text.endswith("Who founded the company originally?")
    assert "QABOT_KB_DIR" in replies[4].text


def test_reindex_swaps_in_the_new_index(bot, fake, kb_index, tmp_path):
    kb = tmp_path / "kb"
    bot.engine.settings = replace(bot.engine.settings, kb_dir=kb, index_dir=kb_index)
    bot.state.settings = bot.engine.settings
    (kb / "new.md").write_text("# Parrots\n\nThe parrot plan costs 77 euros per parrot.\n")
    fake.user_message(ADMIN, "/reindex")
    replies = _replies(fake, ADMIN, 2)
    assert replies[1].text.startswith("Reindexed: 1 files added")
    fake.user_message(ADMIN, "how much does the parrot plan cost?")
    assert _replies(fake, ADMIN, 3)[-1].text.startswith("77 euros")


def test_non_text_updates_and_edits(bot, fake):
    fake.user_message(USER, None, photo=[{"file_id": "p", "file_unique_id": "p", "width": 1,
                                          "height": 1}])
    fake.user_message(USER, None, sticker={"file_id": "s", "file_unique_id": "s", "width": 1,
                                           "height": 1, "is_animated": False,
                                           "is_video": False, "type": "regular"})
    fake.edited_message(USER, "edited text")  # ignored
    fake.user_message(USER, None, new_chat_members=[{"id": 5, "is_bot": False,
                                                     "first_name": "Bo"}])  # ignored
    fake.user_message(USER, QUESTION)
    replies = _replies(fake, USER, 3)
    assert [r.text for r in replies[:2]] == [tg.NOT_TEXT] * 2
    assert replies[2].text.startswith("30 days")
    assert len(fake.messages_to(USER)) == 3


def test_long_replies_are_split_on_paragraphs(bot, fake):
    paragraphs = [(f"Paragraph {i}. " + "word " * 150).strip() for i in range(12)]  # 9,000 chars
    original = bot.engine.respond

    def long_respond(conversation, text, **keys):
        reply = original(conversation, text, **keys)
        return replace(reply, text="\n\n".join(paragraphs), kind="answer")

    bot.engine.respond = long_respond
    fake.user_message(USER, QUESTION)
    fake.wait_for(lambda sent: any(s.reply_markup for s in sent if s.chat_id == USER))
    pieces = fake.messages_to(USER)
    assert len(pieces) == 3 and all(len(p.text) <= 4096 for p in pieces)
    assert "\n\n".join(p.text for p in pieces) == "\n\n".join(paragraphs)
    assert [p.reply_markup is not None for p in pieces] == [False, False, True]


def test_history_survives_a_restart(bot, fake):
    fake.user_message(USER, QUESTION)
    _replies(fake, USER, 1)
    conversation = bot.engine.start("telegram", str(USER))
    bot.restart()
    fake.user_message(USER, "what about recovery codes?")
    _replies(fake, USER, 2)
    assert bot.engine.start("telegram", str(USER)) == conversation
    assert len(bot.engine.history.messages(conversation)) == 4


def test_faults_are_survived_without_losing_a_reply(bot, fake):
    fake.fail_next("sendMessage", "429", retry_after=1)
    fake.fail_next("sendMessage", "502")
    fake.fail_next("sendMessage", "drop")
    fake.fail_next("sendChatAction", "502")
    fake.fail_next("getUpdates", "drop")
    fake.user_message(USER, QUESTION)
    fake.user_message(OTHER, QUESTION)
    assert _replies(fake, USER, 1, timeout=30)[0].text.startswith("30 days")
    assert _replies(fake, OTHER, 1, timeout=30)[0].text.startswith("30 days")
    assert fake.calls.count("sendMessage") >= 5  # 3 failed, 2 delivered
    _all_handled(bot.engine, 2)  # no retry is still to come
    assert len(fake.messages_to(USER)) == len(fake.messages_to(OTHER)) == 1


def test_bad_request_is_not_retried_and_a_failed_operator_note_keeps_the_handoff(bot, fake):
    """A wrong operator chat ("chat not found") is one failed call, not four, and the user
    still gets the handoff, not "something went wrong"."""
    fake.user_message(USER, QUESTION)
    _replies(fake, USER, 1)
    fake.fail_next("sendMessage", "400", times=4, chat=OPERATORS)
    fake.user_message(USER, "/human")
    assert _replies(fake, USER, 2)[-1].text == tg.HANDED_OFF
    fake.user_message(OTHER, QUESTION)
    _replies(fake, OTHER, 1)
    _all_handled(bot.engine, 3)  # the /human handler returned: no retry of the note can come
    assert fake.failed["sendMessage"] == 1  # BadRequest: no retry
    assert fake.messages_to(OPERATORS) == [] and len(fake.messages_to(USER)) == 2


def test_a_send_that_timed_out_is_not_sent_again():
    import asyncio

    from telegram.error import BadRequest, NetworkError, TimedOut

    from qabot.frontends.telegram_io import _retrying

    def failing(*errors):
        calls = []

        async def call():
            calls.append(1)
            if len(calls) <= len(errors):
                raise errors[len(calls) - 1]
            return "sent"
        return call, calls

    call, calls = failing(TimedOut())
    assert asyncio.run(_retrying(call, idempotent=False)) is None and len(calls) == 1
    call, calls = failing(TimedOut())  # an idempotent call (a chat action) is retried
    assert asyncio.run(_retrying(call)) == "sent" and len(calls) == 2
    call, calls = failing(NetworkError("Bad Gateway"), NetworkError("Bad Gateway"))
    assert asyncio.run(_retrying(call, idempotent=False)) == "sent" and len(calls) == 3
    call, calls = failing(BadRequest("Message is not modified"))
    with pytest.raises(BadRequest):
        asyncio.run(_retrying(call))
    assert len(calls) == 1


def test_webhook_refuses_forged_updates(make_engine, fake):
    """The webhook server registers the secret with setWebhook and answers only posts that
    carry it: no header and a wrong one get 403 and no reply; the right one is answered."""
    import json
    import time
    import urllib.error
    import urllib.request

    settings = Settings(telegram_token=fake.token, answer_confidence=0.0)
    engine = make_engine()
    sock = listening_socket()  # the webhook server serves on it: no port picked twice
    port = port_of(sock)
    secret = "s3cret_Token-for-tests"
    runner = BotRunner(engine, settings, fake, webhook=(sock, secret)).start()
    try:
        (registered,) = [c for c in fake.sent if c.method == "setWebhook"]
        assert registered.params["secret_token"] == secret

        def post(update_id: int, chat: int, header: str | None) -> int:
            update = {"update_id": update_id, "message": {
                "message_id": update_id, "date": int(time.time()), "text": QUESTION,
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": False, "first_name": "Ann"}}}
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/telegram", data=json.dumps(update).encode(),
                headers={"Content-Type": "application/json",
                         **({"X-Telegram-Bot-Api-Secret-Token": header} if header else {})})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert post(1, ADMIN, None) == 403
        assert post(2, ADMIN, "guess") == 403
        assert post(3, USER, secret) == 200
        assert _replies(fake, USER, 1)[0].text.startswith("30 days")
        _all_handled(engine, 1)
        assert update_inbox(engine, "telegram").counts().done == 1  # the forged ones: never
        assert fake.messages_to(ADMIN) == []
    finally:
        runner.stop()
        sock.close()
    with pytest.raises(tg.TelegramSetupError, match="needs a secret token"):
        tg.check_webhook_secret(None)
    with pytest.raises(tg.TelegramSetupError, match="1-256 characters"):
        tg.check_webhook_secret("has spaces")
    with pytest.raises(tg.TelegramSetupError, match="needs a secret token"):
        tg.run(engine, settings, webhook_url="https://bot.example.com", secret_token=None)


def _post_raw(port: int, body: bytes, secret: str) -> tuple[int, float]:
    """Post ``body`` to the webhook with the right secret: (the status, the seconds taken)."""
    import time
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telegram", data=body,
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, time.monotonic() - started


def test_webhook_refuses_a_body_that_is_no_update_at_once_and_keeps_answering(make_engine,
                                                                              fake, caplog):
    """With the right secret, a post that is no update the inbox can keep (not JSON, not an
    object, no update, an update_id outside the database's 0..2**63-1) is refused with 400 at
    once: nothing is recorded, so it can block no chat; one line is logged, no traceback. The
    chat's real updates around it are answered, in order."""
    import json

    caplog.set_level(logging.DEBUG)
    settings = Settings(telegram_token=fake.token, answer_confidence=0.0)
    engine = make_engine()
    sock = listening_socket()
    port = port_of(sock)
    secret = "s3cret_Token-for-tests"
    runner = BotRunner(engine, settings, fake, webhook=(sock, secret)).start()
    message = fake.user_update(USER, QUESTION)["message"]
    bad = [b"this is not JSON {", b"\xff\xfe\x00 not UTF-8", b"[1, 2, 3]", b"null", b"{}",
           json.dumps({"message": message}).encode(),
           json.dumps({"update_id": 2**70, "message": message}).encode(),
           json.dumps({"update_id": 2**63, "message": message}).encode(),
           json.dumps({"update_id": -1, "message": message}).encode(),
           json.dumps({"update_id": "17", "message": message}).encode(),
           json.dumps({"update_id": True, "message": message}).encode(),
           json.dumps({"update_id": 18, "message": "not a message"}).encode(),
           json.dumps({"update_id": 19, "message": {**message, "text": "\ud800"}}).encode(),
           json.dumps({"update_id": 20, "message": {
               **message, "chat": {"id": 10**70, "type": "private"}}}).encode(),
           b"[" * 100_000 + b"]" * 100_000]
    try:
        asked = []
        for body in [None, *bad, None]:
            if body is None:  # a real update, before and after the bad ones
                update = fake.user_update(USER, QUESTION)
                asked.append(update["message"]["message_id"])
                assert _post_raw(port, json.dumps(update).encode(), secret)[0] == 200
                continue
            status, seconds = _post_raw(port, body, secret)
            assert (status, body) == (400, body)
            assert seconds < 3, (seconds, body)
        wait_until(lambda: len(fake.messages_to(USER)) == 2, 30)
        assert [m.reply_to for m in fake.messages_to(USER)] == asked
        _all_handled(engine, 2)
        counts = update_inbox(engine, "telegram").counts()
        assert (counts.pending, counts.done, counts.failed) == (0, 2, 0)
    finally:
        runner.stop()
        sock.close()
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == len(bad), caplog.text
    assert all(r.levelno == logging.WARNING and "\n" not in r.getMessage() for r in refused)


def test_an_update_the_inbox_cannot_keep_is_skipped_by_polling_not_retried(caplog):
    """Polling shares the check: an update with an update_id outside 0..2**63-1 is logged
    and not recorded (the next getUpdates acknowledges it), never retried for ever."""
    import asyncio

    from telegram import Update

    from qabot.frontends.telegram_inbox import CHAT_KEY_CHARS, InboxQueue
    from qabot.history.models import InboxUpdate

    assert InboxUpdate.__table__.c.chat.type.length == CHAT_KEY_CHARS  # the limits checked
    assert InboxUpdate.__table__.c.update_id.type.__class__.__name__ == "BigInteger"
    recorded = []

    async def db(method, *args):
        recorded.append(args[0])
        return True

    async def main():
        queue = InboxQueue()
        queue.bind(db, asyncio.Event(), patience=None)
        for update_id in (2**70, -3, 2**63, 5):
            await asyncio.wait_for(queue.put(Update(update_id)), timeout=5)

    caplog.set_level(logging.INFO)
    asyncio.run(main())
    assert recorded == [5]
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 3
    assert "Traceback" not in caplog.text


def test_a_rejected_token_is_a_clear_error_without_the_token(make_engine, fake):
    """The Bot API server refuses the token: one clear error that names the setting and never
    shows the token (PTB's own message quotes it)."""
    import traceback

    token = "123456:WRONG-token-hunter2"
    settings = Settings(telegram_token=token, answer_confidence=0.0)
    with pytest.raises(tg.TelegramSetupError) as error:
        BotRunner(make_engine(), settings, fake).start()
    assert "QABOT_TELEGRAM_TOKEN" in str(error.value) and "rejected" in str(error.value)
    assert "hunter2" not in "".join(traceback.format_exception(error.value))


def test_errors_get_a_polite_reply_and_the_token_never_shows(bot, fake, caplog):
    caplog.set_level(logging.DEBUG)

    def broken_start(*args):
        raise RuntimeError(f"database on fire, token {fake.token}")

    bot.engine.start = broken_start
    fake.user_message(USER, QUESTION)
    assert _replies(fake, USER, 1)[0].text == tg.FALLBACK
    assert "database on fire" in caplog.text
    assert fake.token not in caplog.text and "<token>" in caplog.text


def test_missing_token_is_a_clear_error(make_engine):
    with pytest.raises(tg.TelegramSetupError, match="QABOT_TELEGRAM_TOKEN"):
        tg.build_application(make_engine(), Settings())


def test_split_message_and_transcript():
    assert split_message("short") == ["short"]
    text = "a" * 5000
    assert [len(p) for p in split_message(text)] == [4096, 904]
    pieces = split_message("one two three four five", limit=10)
    assert pieces == ["one two", "three four", "five"]

    class M:
        def __init__(self, direction, text):
            import datetime

            self.direction, self.text = direction, text
            self.created_at = datetime.datetime(2026, 1, 1, 9, 30)

    out = transcript([M("in", "hi"), M("out", "Hello!"), M("out", "")], "HEAD")
    assert out == "HEAD\n\n09:30 user: hi\n09:30 bot: Hello!"


def test_keyboard_only_for_answers():
    reply = Reply("x", "template", 1, 5, 4)
    assert tg.keyboard(reply) is None
    faq = tg.keyboard(replace(reply, kind="faq"))
    assert [b.callback_data for row in faq.inline_keyboard for b in row] == ["up:5", "down:5"]


BASE = "https://help.example.com/"
EVIL = ("javascript:alert(1)", "JAVASCRIPT:alert(1)", " javascript:alert(1)",
        "java\tscript:alert(1)", "data:text/html,hi", "//evil.example/x", "/relative/path")


def test_related_keyboard_has_votes_and_a_url_button_per_web_article_only():
    excerpt = Source("Plans", "plans.md", "1 GB", (0, 4), url=f"{BASE}plans")
    more = (*(Source(f"Evil {i}", "e.md", "e.md", url=url) for i, url in enumerate(EVIL)),
            Source("Sync " * 20, "sync.md", "sync.md", url=f"{BASE}sync"),
            Source("No link", "x.md", "x.md"))
    markup = tg.keyboard(Reply("x", "related", 1, 5, 4, sources=(excerpt, *more)))
    votes, *links = markup.inline_keyboard
    assert [b.callback_data for b in votes] == ["up:5", "down:5"]
    assert [(b.text, b.url) for (b,) in links] == [
        ("Plans", f"{BASE}plans"), (("Sync " * 12)[:59] + "…", f"{BASE}sync")]
    kept = tg.voted_keyboard("related", 5, [{"title": "Evil", "url": EVIL[0]},
                                            {"title": "Plans", "url": f"{BASE}plans"}])
    assert [(b.text, b.url) for row in kept.inline_keyboard for b in row] == [
        ("Plans", f"{BASE}plans")]
    assert tg.voted_keyboard("related", 5, [{"title": "Evil", "url": EVIL[0]}]) is None


@pytest.fixture
def related_bot(make_engine, fake):
    """A bot whose engine makes every candidate answer a related reply (articles linked
    under ``BASE``)."""
    engine = make_engine(confidences=related_confidences(), answer_confidence=None,
                         kb_base_url=BASE, telegram_token=fake.token,
                         telegram_operator_chat=OPERATORS)
    runner = BotRunner(engine, engine.settings, fake).start()
    runner.engine = engine
    yield runner
    runner.stop()


def test_a_related_reply_is_a_marked_suggestion_with_article_buttons_and_votes(related_bot,
                                                                              fake):
    fake.user_message(USER, QUESTION)
    (related,) = _replies(fake, USER, 1)
    assert related.text.startswith("💡 Related (not certain):\n\nI'm not sure")
    assert "refunded within «30 days» of the charge" in related.text
    assert f"Source: refunds.md — {BASE}refunds" in related.text
    votes, *links = related.reply_markup["inline_keyboard"]
    message_id = int(votes[0]["callback_data"].split(":")[1])
    assert [b["callback_data"] for b in votes] == [f"up:{message_id}", f"down:{message_id}"]
    assert [row[0] for row in links] == [
        {"text": "Refunds", "url": f"{BASE}refunds"},
        {"text": "Two-factor authentication", "url": f"{BASE}two-factor"},
        {"text": "Offline", "url": f"{BASE}offline"}]
    fake.callback(USER, f"down:{message_id}")
    edited = fake.wait_for(lambda sent: any(s.method == "editMessageReplyMarkup"
                                            for s in sent))
    (edit,) = [s for s in edited if s.method == "editMessageReplyMarkup"]
    assert [row[0]["url"] for row in edit.reply_markup["inline_keyboard"]] == [
        f"{BASE}refunds", f"{BASE}two-factor", f"{BASE}offline"]  # the links stay
    (down,) = related_bot.engine.history.rated_answers(-1)
    assert (down.message_id, down.answer.kind) == (message_id, "related")
    fake.user_message(USER, "yes")  # takes the offer of a person
    assert "connecting you with a person" in _replies(fake, USER, 2)[-1].text
    (note,) = _replies(fake, OPERATORS, 1)
    assert f"user: {QUESTION}" in note.text


def test_a_javascript_url_never_becomes_a_button(related_bot, fake):
    engine = related_bot.engine
    original = engine.respond

    def respond(conversation, text, **keys):
        reply = original(conversation, text, **keys)
        evil = [replace(s, url=url) for s, url in zip(reply.sources, EVIL)]
        return replace(reply, sources=(*evil, Source("Good", "g.md", "g.md",
                                                     url=f"{BASE}good")))

    engine.respond = respond
    fake.user_message(USER, QUESTION)
    (related,) = _replies(fake, USER, 1)
    buttons = [b for row in related.reply_markup["inline_keyboard"] for b in row]
    assert [b["url"] for b in buttons if "url" in b] == [f"{BASE}good"]
    assert all("callback_data" in b or b["url"].startswith("https://") for b in buttons)


LOAD_TURNS = ["hello", QUESTION, "Can I pay with PayPal?", "what's the weather like?", "thanks!"]


@pytest.mark.slow
def test_load_200_chats_5_messages_each_answered_once_in_order(bot, fake):
    said = bot.engine.settings.bot_name
    greetings = {r.replace("{bot_name}", said)
                 for r in bot.engine.intents.intent_set.by_name["greeting"].responses}
    thanks = set(bot.engine.intents.intent_set.by_name["thanks"].responses)
    chats = [1000 + i for i in range(200)]
    for text in LOAD_TURNS:
        for chat in chats:
            fake.user_message(chat, text)
    fake.wait_for(lambda sent: sum(s.method == "sendMessage" for s in sent) >= 1000, 180)
    _all_handled(bot.engine, 1000)  # nothing more is to come
    for chat in chats:
        replies = [s.text for s in fake.messages_to(chat)]
        assert len(replies) == 5, (chat, replies)  # every message answered exactly once
        assert replies[0] in greetings and replies[4] in thanks  # and in order
        assert replies[1].startswith("30 days") and replies[2].startswith("Yes.")
        assert replies[3].startswith("Sorry, I can only help")
    assert bot.engine.history.stats().messages_in == 1000

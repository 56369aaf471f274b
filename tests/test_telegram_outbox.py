"""Live handoff on Telegram: what operators write (``/reply``, the dashboard: the operator desk)
and the release line reach the user through the outbox, once, in order, across Telegram errors
and crashes of the real process; ``/answer`` teaches the bot an FAQ answer. The real PTB
Application against the fake Bot API on 127.0.0.1, with the fake models."""

from __future__ import annotations

import time
from dataclasses import replace
from urllib.parse import urlparse

import pytest

from qabot.app import operator_desk, outbox, update_inbox
from qabot.frontends import telegram as tg
from qabot.frontends import telegram_inbox, telegram_io
from qabot.frontends.telegram_io import OPERATOR_MESSAGE
from tests.fake_telegram import FakeTelegram
from tests.telegram_harness import BotProcess, BotRunner
from tests.waiting import wait_until

USER, OTHER, THIRD, ADMIN, OPERATORS, OPERATOR = 42, 43, 44, 7, -100, 99
QUESTION = "When can annual payments be refunded?"


class BlockingTelegram(FakeTelegram):
    """The fake Bot API, where users in ``blocked`` have blocked the bot: sendMessage to them
    gets 403 Forbidden (as Telegram answers), for good."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.blocked: set[int] = set()
        self.forbidden = 0  # calls answered 403

    def _params(self, request) -> dict:  # the body is read once: kept for _handle's super()
        params = getattr(request, "_qabot_params", None)
        return params if params is not None else FakeTelegram._params(request)

    def _handle(self, request) -> None:
        request._qabot_params = params = FakeTelegram._params(request)
        try:
            if (urlparse(request.path).path.endswith("/sendMessage")
                    and int(params.get("chat_id") or 0) in self.blocked):
                with self._cond:
                    self.calls.append("sendMessage")
                    self.forbidden += 1
                return self._reply(request, 403, {
                    "ok": False, "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user"})
            return super()._handle(request)
        finally:
            request._qabot_params = None  # one handler object serves a keep-alive connection


@pytest.fixture
def fake():
    server = BlockingTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def bot(make_engine, fake, tmp_path, kb_index):
    """The bot with the fake-model engine, an operator chat, an admin, a 1 s lease (a
    delivery left for a retry is claimed again a second later) and the knowledge base
    ``/answer`` writes to."""
    engine = make_engine(telegram_token=fake.token, telegram_operator_chat=OPERATORS,
                         telegram_admin_ids=(ADMIN,), telegram_lease_seconds=1.0,
                         kb_dir=tmp_path / "kb", index_dir=kb_index)
    runner = BotRunner(engine, engine.settings, fake).start()
    runner.engine = engine
    yield runner
    runner.stop()


def _replies(fake, chat, n, timeout=20.0):
    fake.wait_for(lambda sent: len([s for s in sent if s.method == "sendMessage"
                                    and s.chat_id == chat]) >= n, timeout)
    return fake.messages_to(chat)


def _texts(fake, chat) -> list[str]:
    return [s.text for s in fake.messages_to(chat)]


def _settled(engine, done: int, failed: int = 0, timeout: float = 30.0) -> None:
    """Wait until the outbox holds nothing pending and ``done``/``failed`` deliveries: every
    send that was going to happen has happened. What comes before counting copies."""
    box = outbox(engine, "telegram")

    def settled():
        counts = box.counts()
        return (counts.pending, counts.done, counts.failed) == (0, done, failed)

    wait_until(settled, timeout, message=lambda: f"outbox {box.counts()}")


def _all_handled(engine, updates: int, timeout: float = 30.0) -> None:
    inbox = update_inbox(engine, "telegram")

    def handled():
        counts = inbox.counts()
        return counts.pending == 0 and counts.done + counts.failed >= updates

    wait_until(handled, timeout, message=lambda: f"{updates} updates, inbox {inbox.counts()}")


def _hand_off(fake, chat: int, notes: int) -> int:
    """``chat`` asks for a person; the operator chat's ``notes``-th note names the
    conversation: its id."""
    fake.user_message(chat, "/human")
    assert _replies(fake, chat, 1)[-1].text == tg.HANDED_OFF
    note = _replies(fake, OPERATORS, notes)[-1]
    assert f"/reply {note.text.split()[1]} <text>" in note.text
    return int(note.text.split()[1])


def operator_says(author: str, text: str) -> str:
    return OPERATOR_MESSAGE.format(name=author.split()[0], text=text)


# --------------------------------------------------------------------------- delivery


def test_operator_replies_reach_the_user_once_in_the_order_stored(bot, fake):
    conversation = _hand_off(fake, USER, 1)
    desk = operator_desk(bot.engine)
    said = [("Bea Stone", f"Reply {i} from the team.") if i % 2 else
            ("Carl Jung", f"Reply {i}:\nline two.") for i in range(6)]
    for author, text in said:  # two operators, as the dashboard stores them
        desk.reply(conversation, text, author=author)
    replies = _replies(fake, USER, 1 + len(said))
    assert [r.text for r in replies[1:]] == [operator_says(a, t) for a, t in said]
    assert replies[1].text == "Carl from the support team:\n\nReply 0:\nline two."
    assert all(r.reply_markup is None for r in replies[1:])
    # a web user's reply is read by the widget: nothing of it is sent on Telegram
    web = bot.engine.start("web", "visitor-1")
    bot.engine.hand_off(web, "web: asked for a person")
    desk.reply(web, "Hello from the team.", author="Bea Stone")
    stored = [m for m in bot.engine.history.messages(web) if m.kind == "operator"]
    assert [m.text for m in stored] == ["Hello from the team."]
    _settled(bot.engine, done=len(said))
    assert len(fake.messages_to(USER)) == 1 + len(said)  # each once
    assert not [s for s in fake.sent if s.method == "sendMessage"
                and s.chat_id not in (USER, OPERATORS)]


def test_release_delivers_the_line_once_and_confirms_to_the_operators(bot, fake):
    conversation = _hand_off(fake, USER, 1)
    fake.user_message(OPERATORS, f"/release {conversation}", user_id=OPERATOR,
                      chat_type="group")
    assert _replies(fake, OPERATORS, 2)[-1].text == (
        f"Conversation {conversation} is back with the bot.")
    assert _replies(fake, USER, 2)[-1].text == tg.RELEASED
    # the button, for another user; pressed twice: the second finds it released
    other = _hand_off(fake, OTHER, 3)
    note = fake.messages_to(OPERATORS)[-1]
    button = note.reply_markup["inline_keyboard"][0][0]["callback_data"]
    assert button == f"rel:{other}"
    fake.callback(OPERATORS, button, user_id=OPERATOR)
    assert _replies(fake, OTHER, 2)[-1].text == tg.RELEASED
    fake.callback(OPERATORS, button, user_id=OPERATOR)
    fake.user_message(OPERATORS, f"/release {conversation}", user_id=OPERATOR,
                      chat_type="group")
    assert _replies(fake, OPERATORS, 6)[-3:] and _texts(fake, OPERATORS)[3:] == [
        f"Conversation {other} is back with the bot.",
        f"Conversation {other} is not handed off.",
        f"Conversation {conversation} is not handed off."]
    _all_handled(bot.engine, 6)
    _settled(bot.engine, done=2)
    assert _texts(fake, USER).count(tg.RELEASED) == 1
    assert _texts(fake, OTHER).count(tg.RELEASED) == 1
    (stored,) = [m for m in bot.engine.history.messages(conversation) if m.kind == "released"]
    assert stored.text == tg.RELEASED
    fake.user_message(USER, QUESTION)  # the bot answers again
    assert _replies(fake, USER, 3)[-1].text.startswith("30 days")


def test_reply_command_is_for_operators_only(bot, fake):
    conversation = _hand_off(fake, USER, 1)
    fake.user_message(OPERATORS, f"/reply {conversation} Hi Ann,\n\nwe refunded you.",
                      user_id=OPERATOR, first_name="Dora", chat_type="group")
    assert _replies(fake, OPERATORS, 2)[-1].text == f"Sent to conversation {conversation}."
    assert _replies(fake, USER, 2)[-1].text == operator_says("Dora",
                                                             "Hi Ann,\n\nwe refunded you.")
    (stored,) = [m for m in bot.engine.history.messages(conversation) if m.kind == "operator"]
    assert stored.author == "Dora"
    # anyone else: the command does not exist, and nothing is stored or sent
    before = len(bot.engine.history.messages(conversation))
    fake.user_message(OTHER, f"/reply {conversation} I am not an operator")
    assert _replies(fake, OTHER, 1)[-1].text == tg.UNKNOWN
    # usage and the desk's refusals, for the operator
    for text in ("/reply", f"/reply {conversation}", "/reply x hello",
                 f"/reply {2**70} hello", "/reply 999 hello"):
        fake.user_message(OPERATORS, text, user_id=OPERATOR, chat_type="group")
    answers = _replies(fake, OPERATORS, 7)[-5:]
    assert [a.text for a in answers] == [tg.REPLY_USAGE] * 4 + [
        "Not sent: no conversation 999."]
    _all_handled(bot.engine, 8)
    _settled(bot.engine, done=1)
    assert len(bot.engine.history.messages(conversation)) == before
    assert len(fake.messages_to(USER)) == 2


def test_a_chat_that_cannot_get_it_is_given_up_and_others_go_on(bot, fake):
    user, other, third = (_hand_off(fake, chat, n)
                          for n, chat in enumerate((USER, OTHER, THIRD), start=1))
    desk = operator_desk(bot.engine)
    fake.fail_next("sendMessage", "400", chat=USER)  # Bad Request: chat not found
    fake.blocked.add(OTHER)  # Forbidden: bot was blocked by the user
    desk.reply(user, "First.", author="Bea")
    desk.reply(other, "To a user who blocked the bot.", author="Bea")
    desk.reply(third, "To the third user.", author="Bea")
    desk.reply(user, "Second.", author="Bea")  # the chat's next delivery goes
    assert _replies(fake, THIRD, 2)[-1].text == operator_says("Bea", "To the third user.")
    assert _replies(fake, USER, 2)[-1].text == operator_says("Bea", "Second.")
    _settled(bot.engine, done=2, failed=2)
    assert fake.failed["sendMessage"] == 1 and fake.forbidden == 1  # neither was retried
    assert [t for t in _texts(fake, USER) if "First." in t] == []


def test_a_transient_error_is_retried_and_delivered_once(bot, fake):
    conversation = _hand_off(fake, USER, 1)
    other = _hand_off(fake, OTHER, 2)
    # every try of the first send fails (502, dropped connections): the delivery is left
    # for its lease to lapse, claimed again and sent; the chat's next one waits behind it
    fake.fail_next("sendMessage", "502", times=2, chat=USER)
    fake.fail_next("sendMessage", "drop", times=2, chat=USER)
    desk = operator_desk(bot.engine)
    desk.reply(conversation, "First.", author="Bea")
    desk.reply(conversation, "Second.", author="Bea")
    desk.reply(other, "Meanwhile.", author="Bea")
    assert _replies(fake, OTHER, 2)[-1].text == operator_says("Bea", "Meanwhile.")
    replies = _replies(fake, USER, 3)
    assert [r.text for r in replies[1:]] == [operator_says("Bea", "First."),
                                            operator_says("Bea", "Second.")]
    _settled(bot.engine, done=3)
    assert fake.failed["sendMessage"] == 4
    assert len(fake.messages_to(USER)) == 3


def test_an_outage_longer_than_max_attempts_tries_loses_no_delivery(bot, fake, monkeypatch):
    """A passing failure is postponed, not counted towards giving up (that is for tries a
    worker died in): five failed sends with MAX_ATTEMPTS at 2 still deliver, once, in order."""
    monkeypatch.setattr(telegram_inbox, "MAX_ATTEMPTS", 2)
    monkeypatch.setattr(telegram_io, "SEND_RETRIES", 0)  # one call a try
    conversation = _hand_off(fake, USER, 1)
    fake.fail_next("sendMessage", "502", times=5, chat=USER)
    desk = operator_desk(bot.engine)
    desk.reply(conversation, "Sent through an outage.", author="Bea")
    desk.reply(conversation, "After it.", author="Bea")
    _settled(bot.engine, done=2)
    assert fake.failed["sendMessage"] == 5
    assert _texts(fake, USER)[-2:] == [operator_says("Bea", "Sent through an outage."),
                                       operator_says("Bea", "After it.")]


def test_a_reply_with_the_same_key_is_stored_and_sent_once(bot, fake):
    """/reply handled again after a crash (its update's key): one message, one delivery."""
    conversation = _hand_off(fake, USER, 1)
    desk = operator_desk(bot.engine)
    first = desk.reply(conversation, "Once.", author="Bea", key="telegram:77")
    again = desk.reply(conversation, "Once.", author="Bea", key="telegram:77")
    assert again.id == first.id
    _settled(bot.engine, done=1)
    assert _texts(fake, USER).count(operator_says("Bea", "Once.")) == 1
    assert [m.kind for m in bot.engine.history.messages(conversation)].count("operator") == 1


# --------------------------------------------------------------------------- /answer


def test_answer_teaches_the_bot_an_faq_answer(bot, fake, tmp_path):
    from indexer.manifest import read_manifest

    kb, index = bot.engine.settings.kb_dir, bot.engine.settings.index_dir
    sheet = kb / "operator-answers.csv"
    generation = read_manifest(index).generation
    bad = ["/answer", "/answer How do I export my invoices?",
           "/answer\nOpen Billing, then click Export.",
           "/answer How do I export my invoices?\nOpen Billing.\nalso:"]
    fake.user_message(USER, "/answer How do I export?\nOpen Billing.")  # not an admin
    for text in bad:
        fake.user_message(ADMIN, text, first_name="Ada")
    assert _replies(fake, USER, 1)[0].text == tg.UNKNOWN
    answers = _replies(fake, ADMIN, len(bad))
    assert [a.text for a in answers] == [tg.ANSWER_USAGE] * 3 + [
        "Not saved: other phrasing 1 is empty."]
    _all_handled(bot.engine, 1 + len(bad))
    assert not sheet.exists() and read_manifest(index).generation == generation
    fake.user_message(ADMIN, "/answer How do I export my invoices?\r\nOpen Billing,\nthen "
                             "click Export.\nALSO: Where can I download invoices?",
                      first_name="Ada")
    saved = _replies(fake, ADMIN, len(bad) + 1, timeout=30)[-1].text
    assert saved.startswith("Saved to operator-answers.csv:\n• How do I export my invoices?\n"
                            "• Where can I download invoices?\nReindexed: 1 files added")
    assert read_manifest(index).generation != generation
    rows = sheet.read_text()
    assert "Ada" in rows and "Open Billing,\nthen click Export." in rows
    fake.user_message(USER, "Where can I download invoices?")
    reply = _replies(fake, USER, 2)[-1]
    assert reply.text.startswith("Open Billing,")
    conversation = bot.engine.start("telegram", str(USER))
    assert bot.engine.history.messages(conversation)[-1].kind == "faq"


def test_answer_without_a_knowledge_base_folder_says_so(bot, fake):
    bot.engine.settings = replace(bot.engine.settings, kb_dir=None)
    bot.application.bot_data["qabot"].settings = bot.engine.settings
    fake.user_message(ADMIN, "/answer Q?\nA.")
    assert _replies(fake, ADMIN, 1)[0].text.startswith(
        "Not saved: no knowledge-base folder is configured")


def test_parse_answer():
    assert tg.parse_answer("/answer Q?\nline 1\n\nline 2\n also: R?\nalso:S?") == (
        "Q?", "line 1\n\nline 2", ["R?", "S?"])
    assert tg.parse_answer("/answer@qabot_test_bot  Q? \n A ") == ("Q?", "A", [])
    assert tg.parse_answer("/answer Q?") is None
    assert tg.parse_answer("/answer \nA") is None
    assert tg.parse_answer("/answer Q?\nalso: R?") is None


# --------------------------------------------------------------------------- crashes


@pytest.fixture
def hashing_index(tmp_path):
    from indexer.sync import build
    from tests.conftest import EXAMPLE_KB
    from tests.fakes import HashingEmbedder

    build(EXAMPLE_KB, tmp_path / "index", HashingEmbedder())
    return tmp_path / "index"


def _history(tmp_path):
    from qabot.history import History

    return History.open(f"sqlite:///{tmp_path / 'history.sqlite'}")


def _handed_off_in_process(fake, bot, history, chats) -> dict[int, int]:
    """Each chat asks for a person through the running process; their conversations, once
    every update is marked done (nothing of it is handled again after a kill)."""
    for chat in chats:
        fake.user_message(chat, "/human")
    fake.wait_for(lambda sent: all(
        any(s.text == tg.HANDED_OFF for s in fake.messages_to(c)) for c in chats), 30)
    inbox = history.inbox("telegram")
    wait_until(lambda: inbox.counts().done == len(chats) and not inbox.counts().pending, 30)
    return {chat: history.current_conversation(history.user_id("telegram", str(chat))).id
            for chat in chats}


@pytest.mark.slow
def test_a_reply_stored_while_the_bot_is_down_is_delivered_once_after_the_restart(
        tmp_path, hashing_index):
    from qabot.dialogue.handoff import RELEASED_LINE

    fake = FakeTelegram().start()
    bot = BotProcess(tmp_path, fake, fake_models=True)
    history = _history(tmp_path)
    try:
        bot.start()
        conversation = _handed_off_in_process(fake, bot, history, [USER])[USER]
        bot.kill()
        desk = history.operator_desk(("telegram",))
        desk.reply(conversation, "We are on it.", author="Bea Stone")
        desk.release(conversation, "dashboard:bea", RELEASED_LINE)
        bot.start()
        expected = [tg.HANDED_OFF, operator_says("Bea", "We are on it."), RELEASED_LINE]
        fake.wait_for(lambda sent: len(fake.messages_to(USER)) >= 3, 30)
        box = history.inbox("telegram:out")
        wait_until(lambda: box.counts().done == 2 and not box.counts().pending, 30)
        assert bot.stop() == 0
    finally:
        if bot.process and bot.process.poll() is None:
            bot.process.kill()
        fake.stop()
        history.close()
    assert _texts(fake, USER) == expected


@pytest.mark.slow
def test_kills_right_after_storing_lose_no_reply_and_double_at_most_one_a_kill(
        tmp_path, hashing_index):
    """Replies for six chats stored, then SIGKILL at once or a moment later, four times: every
    reply arrives, in order. Chats are sent to at once, so one kill can find several sends
    taken by Telegram and not yet marked done: each is sent again, at most one per chat."""
    fake = FakeTelegram().start()
    bot = BotProcess(tmp_path, fake, fake_models=True, lease=1.0)
    history = _history(tmp_path)
    chats = [6000 + i for i in range(6)]
    stored: dict[int, list[str]] = {chat: [] for chat in chats}
    kills = cut_short = 0
    box = history.inbox("telegram:out")
    try:
        bot.start()
        conversations = _handed_off_in_process(fake, bot, history, chats)
        desk = history.operator_desk(("telegram",))
        for round_, wait in enumerate((0.0, 0.02, 0.25, 0.5)):  # store, kill, restart
            for chat in chats:
                text = f"Round {round_} for {chat}."
                desk.reply(conversations[chat], text, author="Bea Stone")
                stored[chat].append(operator_says("Bea", text))
            time.sleep(wait)  # at once, or as the replies are being sent
            bot.kill()
            kills += 1
            cut_short += box.counts().pending > 0  # it died with replies still to send
            bot.start()
        total = sum(len(texts) for texts in stored.values())
        wait_until(lambda: box.counts().done == total and not box.counts().pending, 60,
                   message=lambda: f"outbox {box.counts()}")
        assert bot.stop() == 0
    finally:
        if bot.process and bot.process.poll() is None:
            bot.process.kill()
        fake.stop()
        history.close()
    duplicates = 0
    for chat in chats:
        got = [t for t in _texts(fake, chat) if t != tg.HANDED_OFF]
        once = [t for i, t in enumerate(got) if i == 0 or t != got[i - 1]]
        assert once == stored[chat]  # every one, in the order stored; a copy right after it
        # a chat has one delivery in hand at a time: a kill sends at most that one again
        assert len(got) - len(once) <= kills, (chat, got)
        duplicates += len(got) - len(once)
    print(f"{kills} kills ({cut_short} with replies unsent), {total} replies, "
          f"{duplicates} sent twice")
    assert cut_short >= 2  # the kills came while replies waited to be sent

"""The inbox of channel updates, on SQLite and PostgreSQL: recorded once, claimed by one worker
at a time, each chat in order, leases that expire, and an update answered again that finds
its stored reply."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from qabot.history import History
from qabot.history.inbox import Inbox
from qabot.history.models import utcnow


class ManualClock:
    """The inbox's clock in these tests: it stands still until the test moves it, so leases
    run out exactly when the test says, however slow the machine."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def inbox(history_url, clock):
    history = History.open(history_url)
    yield Inbox(history.engine, "telegram", clock=clock)
    history.close()


def test_an_update_delivered_again_is_recorded_once(inbox):
    assert inbox.record(1, "42", '{"update_id": 1}')
    assert not inbox.record(1, "42", '{"update_id": 1}')
    assert inbox.counts().pending == 1


def test_only_the_oldest_pending_update_of_a_chat_is_claimed(inbox):
    for update_id, chat in ((1, "a"), (2, "b"), (3, "a"), (4, "a")):
        inbox.record(update_id, chat, "{}")
    first = inbox.claim("w1", 10, lease=30)
    assert [c.update_id for c in first] == [1, 2]  # one per chat, oldest first
    assert inbox.claim("w2", 10, lease=30) == []  # both heads are held
    assert inbox.finish("w1", first[0].id)
    (third,) = inbox.claim("w2", 10, lease=30)  # chat a's next, now that 1 is done
    assert third.update_id == 3 and third.attempts == 1
    assert not inbox.finish("w1", third.id)  # not w1's to finish
    assert inbox.counts().pending == 3


def test_a_dead_workers_lease_runs_out_and_another_answers(inbox, clock):
    inbox.record(7, "a", "{}")
    (held,) = inbox.claim("dead", 10, lease=30)
    assert inbox.claim("alive", 10, lease=30) == []
    clock.advance(29)
    assert inbox.claim("alive", 10, lease=30) == []  # a second before the lease runs out
    clock.advance(2)
    (again,) = inbox.claim("alive", 10, lease=30)
    assert again.update_id == 7 and again.attempts == 2
    assert not inbox.finish("dead", held.id)  # the lease was lost: it cannot finish it
    assert inbox.finish("alive", again.id)
    assert inbox.counts().done == 1


def test_a_renewed_lease_is_kept(inbox, clock):
    inbox.record(8, "a", "{}")
    (held,) = inbox.claim("w1", 10, lease=30)
    clock.advance(20)
    assert inbox.renew("w1", [held.id], lease=30) == 1  # now held until 50 s
    clock.advance(20)  # past the first lease's end (30 s)
    assert inbox.claim("w2", 10, lease=30) == []
    assert inbox.renew("w2", [held.id], lease=30) == 0  # only the holder renews
    clock.advance(11)  # past the renewed lease's end: the clock is what held it
    (again,) = inbox.claim("w2", 10, lease=30)
    assert (again.id, again.attempts) == (held.id, 2)


def test_purge_forgets_only_old_finished_updates(inbox):
    inbox.record(1, "a", "{}")
    inbox.record(2, "b", "{}")
    (one, _two) = inbox.claim("w", 10, lease=30)
    inbox.finish("w", one.id)
    assert inbox.purge(timedelta(days=1)) == 0  # finished just now
    assert inbox.purge(timedelta(seconds=-1)) == 1
    counts = inbox.counts()
    assert (counts.pending, counts.done) == (1, 0)


def test_racing_workers_answer_each_update_once_and_each_chat_in_order(history_url):
    """Four workers with their own connections claim from one inbox at once."""
    history = History.open(history_url)
    inbox = history.inbox("telegram")
    chats, per_chat = 25, 4
    for turn in range(per_chat):
        for chat in range(chats):
            inbox.record(turn * chats + chat, str(chat), "{}")
    answered: list[tuple[str, int]] = []
    finished: set[int] = set()
    problems: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        own = History(history_url).inbox("telegram")
        idle = 0
        while idle < 20:
            claimed = own.claim(name, 3, lease=30)
            idle = 0 if claimed else idle + 1
            for c in claimed:
                with lock:
                    before = c.update_id - chats
                    if before >= 0 and before not in finished:
                        problems.append(f"{c.update_id} claimed before {before} was done")
                    answered.append((c.chat, c.update_id))
                time.sleep(0.002)
                with lock:
                    finished.add(c.update_id)
                assert own.finish(name, c.id)
            if not claimed:
                time.sleep(0.02)
        own.engine.dispose()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert problems == []
    assert sorted(u for _, u in answered) == list(range(chats * per_chat))  # each once
    assert inbox.counts().done == chats * per_chat
    history.close()


def test_an_update_answered_again_finds_its_message_and_reply(make_engine):
    engine = make_engine()
    conversation = engine.start("telegram", "42")
    first = engine.respond(conversation, "When can annual payments be refunded?",
                           update_key="telegram:77")
    again = engine.respond(conversation, "When can annual payments be refunded?",
                           update_key="telegram:77")
    assert (again.message_id, again.user_message_id) == (first.message_id,
                                                         first.user_message_id)
    assert (again.text, again.kind, again.sources) == (first.text, first.kind, first.sources)
    assert engine.history.stats().messages_in == 1
    # stored before a crash, not answered: answering it again stores no second message
    asked = engine.history.add_message(conversation, "in", "Can I pay with PayPal?",
                                       update_key="telegram:78")
    reply = engine.respond(conversation, "Can I pay with PayPal?", update_key="telegram:78")
    assert reply.user_message_id == asked and reply.text.startswith("Yes")
    assert engine.history.stats().messages_in == 2


def test_a_missing_service_fails_under_ci_and_skips_elsewhere(monkeypatch):
    from tests.conftest import skip_unless_ci

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no server"):
        skip_unless_ci("no server")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no server"):
        skip_unless_ci("no server")


def test_the_dispatcher_answers_each_chat_in_order_and_gives_up_on_a_poison_update(tmp_path):
    """The Telegram dispatcher over a real inbox, with a stand-in for PTB's Application."""
    import asyncio
    import json

    from sqlalchemy import update

    from qabot.app import update_inbox
    from qabot.frontends.telegram_inbox import MAX_ATTEMPTS, Dispatcher, InboxDb
    from qabot.history.models import InboxUpdate

    history = History.open(f"sqlite:///{tmp_path / 'h.sqlite'}")
    inbox = history.inbox("telegram")

    def message(update_id: int, chat: int) -> str:
        return json.dumps({"update_id": update_id, "message": {
            "message_id": update_id, "date": 0, "text": f"m{update_id}",
            "chat": {"id": chat, "type": "private"}}})

    for update_id, chat in ((1, 10), (2, 20), (3, 10), (4, 10), (5, 30)):
        inbox.record(update_id, str(chat), message(update_id, chat))
    with history.engine.begin() as c:  # update 5 died with its worker MAX_ATTEMPTS times
        c.execute(update(InboxUpdate).where(InboxUpdate.update_id == 5)
                  .values(attempts=MAX_ATTEMPTS))
    handled: list[int] = []

    class Application:
        bot = None

        async def process_update(self, update) -> None:
            await asyncio.sleep(0.01 if update.update_id == 1 else 0)  # chat 10's first is slow
            handled.append(update.update_id)

    async def main() -> None:
        class Engine:
            pass

        engine = Engine()
        engine.history = history
        db = InboxDb(update_inbox(engine, "telegram"))
        dispatcher = Dispatcher(Application(), db, capacity=8, lease=30, idle=0.05)
        stop = asyncio.Event()
        running = asyncio.create_task(dispatcher.run(stop))
        deadline = asyncio.get_running_loop().time() + 60
        while inbox.counts().pending:  # until every update is done or given up on
            assert asyncio.get_running_loop().time() < deadline, inbox.counts()
            await asyncio.sleep(0.02)
        stop.set()
        await running
        db.close()

    asyncio.run(main())
    assert sorted(handled) == [1, 2, 3, 4]  # the poison update was not handled again
    assert [u for u in handled if u in (1, 3, 4)] == [1, 3, 4]  # chat 10 in order
    counts = inbox.counts()
    assert (counts.pending, counts.done, counts.failed) == (0, 4, 1)
    history.close()

"""Two `qabot telegram` webhook replicas on one PostgreSQL: updates of 100 chats posted to both
in turn, one replica killed mid-run and restarted; then an index rebuilt by another process
while they serve. The processes run with the test fakes for their models
(``tests.fake_models_cli``): what is tested is delivery and the index swap, not the replies."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.conftest import EXAMPLE_KB
from tests.fake_telegram import FakeTelegram
from tests.fakes import HashingEmbedder
from tests.net import post_update
from tests.telegram_harness import BotProcess, outcome
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

SECRET = "replica-test-secret"
TURNS = ["hello", "Can I pay with PayPal?", "How long are deleted notes kept in the trash?",
         "what's the weather like?", "thanks!"]


def post(port: int, update: dict) -> bool:
    return post_update(port, update, SECRET)


def deliver(replicas: list[BotProcess], first: int, update: dict,
            timeout: float = 60.0) -> None:
    """Like Telegram behind a load balancer: the update goes to one replica, and to the other
    when that one does not take it, until one does. A replica that is down (killed, or
    restarted and not yet serving) takes nothing, as its closed port would refuse it."""
    turn = first

    def taken() -> bool:
        nonlocal turn
        replica = replicas[turn % 2]
        turn += 1
        return replica.serving() and post(replica.port, update)

    wait_until(taken, timeout, interval=0.05,
               message=f"no replica took update {update['update_id']}")


def holding(url: str, pid: int, timeout: float = 10.0) -> int:
    """Wait until the replica with this pid holds updates; how many it holds."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as c:
                held = c.execute(text("SELECT count(*) FROM inbox WHERE state = 'pending' "
                                      "AND claimed_by LIKE :owner"),
                                 {"owner": f"%:{pid}:%"}).scalar()
            if held or time.monotonic() > deadline:
                return held
            time.sleep(0.01)
    finally:
        engine.dispose()


@pytest.fixture
def pg_url(postgres_url):
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url)
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return postgres_url


def test_two_replicas_lose_nothing_keep_order_and_follow_a_rebuilt_index(tmp_path, pg_url):
    from indexer.sync import build
    from qabot.history import History

    kb = tmp_path / "kb"
    shutil.copytree(EXAMPLE_KB, kb)
    build(kb, tmp_path / "index", HashingEmbedder())
    fake = FakeTelegram().start()
    replicas = [BotProcess(tmp_path, fake, webhook_secret=SECRET, db=pg_url,  # each on a
                           name=f"replica{i}", fake_models=True)  # socket the test bound for it
                for i in range(2)]
    chats = [7000 + i for i in range(100)]
    asked: dict[int, list[int]] = {chat: [] for chat in chats}
    try:
        for replica in replicas:
            replica.start(wait=False)
        for replica in replicas:
            replica.wait_started(0)
        n = 0
        for text in TURNS:
            for chat in chats:
                update = fake.user_update(chat, text)
                asked[chat].append(update["message"]["message_id"])
                deliver(replicas, n, update)
                n += 1
                if n == 150:  # mid-run: replica 1 dies with updates in hand ...
                    in_hand = holding(pg_url, replicas[1].process.pid)
                    replicas[1].kill()
                if n == 300:  # ... and comes back while updates keep arriving
                    restarted_from = replicas[1].starts()
                    replicas[1].start(wait=False)
        replicas[1].wait_started(restarted_from)
        fake.wait_for(lambda sent: not outcome(fake, asked)["lost"], timeout=300)
        history = History.open(pg_url)
        inbox = history.inbox("telegram")
        # every update done: updates the killed replica held (and may have answered) were
        # answered again once its leases ran out, so no duplicate is still to come
        wait_until(lambda: inbox.counts().pending == 0, 60,
                   message=lambda: f"inbox {inbox.counts()}")
        result = outcome(fake, asked)
        assert result["disordered"] == []
        assert result["duplicates"] <= 1, result  # the one kill's window, at most
        assert in_hand > 0  # the kill did leave updates for the other replica
        assert history.stats().messages_in == 500
        counts = inbox.counts()
        assert (counts.pending, counts.done, counts.failed) == (0, 500, 0)
        history.close()
        # the FAQ's answer as the first index has it, so "Apple Pay" below is the rebuilt one's
        paypal = [s.text for chat in chats for s in fake.messages_to(chat)
                  if s.reply_to == asked[chat][TURNS.index("Can I pay with PayPal?")]]
        assert paypal and all("We accept PayPal, Visa" in t for t in paypal), paypal[:3]

        # an outside rebuild: both replicas answer from the new generation within seconds
        faq = (kb / "faq.csv").read_text(encoding="utf-8")
        (kb / "faq.csv").write_text(faq.replace("We accept PayPal,", "We accept PayPal, "
                                                "Apple Pay,"), encoding="utf-8")
        build(kb, tmp_path / "index", HashingEmbedder())  # what `qabot-index build` does
        rebuilt = time.monotonic()
        swapped = "index generation gen-000001 -> gen-000002"
        wait_until(lambda: all(swapped in r.log.read_text() for r in replicas), 10,
                   interval=0.1, message="a replica did not switch in 10 s")
        switched_in = time.monotonic() - rebuilt
        for replica, chat in zip(replicas, (8001, 8002)):
            update = fake.user_update(chat, "Can I pay with PayPal?")
            assert post(replica.port, update)
            fake.wait_for(lambda sent, m=update["message"]["message_id"]: any(
                s.reply_to == m for s in sent if s.method == "sendMessage"), 30)
            assert "Apple Pay" in fake.messages_to(chat)[-1].text
        assert switched_in < 5
        for replica in replicas:
            assert replica.stop() == 0
    finally:
        for replica in replicas:
            if replica.process and replica.process.poll() is None:
                replica.process.kill()
        fake.stop()
    failed = [s.text for s in fake.sent if s.method == "sendMessage"
              and s.text.startswith("Sorry, something went wrong")]
    assert failed == []  # no reply failed, during the kill or the rebuild

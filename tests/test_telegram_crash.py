"""Crashes of the real `qabot telegram` process lose no message and double none but the one
documented window: SIGKILL at random moments, restarts, and a fake Bot API server that delivers
unacknowledged updates again, as Telegram does. The process runs with the test fakes for its
models (``tests.fake_models_cli``): what is tested is delivery, not the replies."""

from __future__ import annotations

import random
import time

import pytest

from tests.conftest import EXAMPLE_KB
from tests.fake_telegram import FakeTelegram
from tests.fakes import HashingEmbedder
from tests.telegram_harness import BotProcess, outcome

pytestmark = pytest.mark.slow

TURNS = ["hello", "Can I pay with PayPal?", "How long are deleted notes kept in the trash?",
         "what's the weather like?", "Can I get a refund on an annual plan?", "thanks!"]


def test_sigkill_at_random_moments_loses_no_message_and_keeps_each_chat_in_order(
        tmp_path):
    from indexer.sync import build
    from qabot.history import History

    build(EXAMPLE_KB, tmp_path / "index", HashingEmbedder())
    fake = FakeTelegram().start()
    chats = [5000 + i for i in range(30)]
    asked: dict[int, list[int]] = {chat: [] for chat in chats}

    def one_round(text: str) -> None:  # every chat sends its next message
        for chat in chats:
            asked[chat].append(fake.message_of[fake.user_message(chat, text)])

    bot = BotProcess(tmp_path, fake, fake_models=True)
    rng = random.Random(16)
    kills, cut_short = 0, 0
    try:
        for life in range(5):  # five lives, each killed at a random moment of answering
            for turn in range(3):
                one_round(TURNS[(3 * life + turn) % len(TURNS)])
            bot.start()
            time.sleep(rng.uniform(0.2, 1.5))
            bot.kill()
            kills += 1
            cut_short += bool(outcome(fake, asked)["lost"])
        one_round(TURNS[-1])
        bot.start()
        fake.wait_for(lambda sent: not outcome(fake, asked)["lost"], timeout=240)
        assert bot.stop() == 0
    finally:
        if bot.process and bot.process.poll() is None:
            bot.process.kill()
        fake.stop()
    total = sum(len(m) for m in asked.values())
    result = outcome(fake, asked)
    print(f"kills {kills}, cut short {cut_short}, {total} messages: {result}")
    assert result["lost"] == []
    assert result["disordered"] == []
    assert result["duplicates"] <= kills, result
    assert cut_short >= 3  # most kills came while messages were waiting for their answers
    history = History.open(f"sqlite:///{tmp_path / 'history.sqlite'}")
    assert history.stats().messages_in == total  # each message stored once
    counts = history.inbox("telegram").counts()
    assert (counts.pending, counts.done, counts.failed) == (0, total, 0)
    history.close()

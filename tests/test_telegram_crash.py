"""Crashes of the real `qabot telegram` process lose no message and double none but the one
documented window: SIGKILL at random moments, restarts, and a fake Bot API server that delivers
unacknowledged updates again, as Telegram does."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_KB
from tests.fake_telegram import FakeTelegram

pytestmark = [pytest.mark.slow, pytest.mark.model]

TURNS = ["hello", "Can I pay with PayPal?", "How long are deleted notes kept in the trash?",
         "what's the weather like?", "Can I get a refund on an annual plan?", "thanks!"]


class BotProcess:
    """`qabot telegram` in a subprocess, its log appended to one file across restarts."""

    def __init__(self, tmp_path: Path, fake: FakeTelegram, *extra: str, lease: float = 2.0):
        self.log = tmp_path / "bot.log"
        self.args = [sys.executable, "-m", "qabot.cli", "telegram",
                     "--index", str(tmp_path / "index"),
                     "--db", f"sqlite:///{tmp_path / 'history.sqlite'}", *extra]
        self.env = {**os.environ, "QABOT_TELEGRAM_TOKEN": fake.token,
                    "QABOT_TELEGRAM_BASE_URL": fake.base_url, "HF_HUB_OFFLINE": "1",
                    "TRANSFORMERS_OFFLINE": "1", "QABOT_TELEGRAM_LEASE_SECONDS": str(lease)}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> None:
        starts = self.log.read_text().count("Application started") if self.log.exists() else 0
        with self.log.open("a") as out:
            self.process = subprocess.Popen(self.args, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while self.log.read_text().count("Application started") <= starts:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the bot did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)


def outcome(fake: FakeTelegram, asked: dict[int, list[int]]) -> dict:
    """Per chat: which of its messages got replies, in what order, and how many twice."""
    lost, disordered, duplicates = [], [], 0
    for chat, messages in asked.items():
        answered = [s.reply_to for s in fake.messages_to(chat) if s.reply_to is not None]
        duplicates += len(answered) - len(set(answered))
        first = list(dict.fromkeys(answered))
        lost += [m for m in messages if m not in first]
        if first != [m for m in messages if m in first]:
            disordered.append(chat)
    return {"lost": lost, "disordered": disordered, "duplicates": duplicates}


def test_sigkill_at_random_moments_loses_no_message_and_keeps_each_chat_in_order(
        tmp_path, minilm):
    from indexer.sync import build
    from qabot.history import History

    build(EXAMPLE_KB, tmp_path / "index", minilm)
    fake = FakeTelegram().start()
    chats = [5000 + i for i in range(30)]
    asked: dict[int, list[int]] = {chat: [] for chat in chats}

    def one_round(text: str) -> None:  # every chat sends its next message
        for chat in chats:
            asked[chat].append(fake.message_of[fake.user_message(chat, text)])

    bot = BotProcess(tmp_path, fake)
    rng = random.Random(16)
    kills, cut_short = 0, 0
    try:
        for text in TURNS[:5]:  # five lives, each killed at a random moment of answering
            one_round(text)
            bot.start()
            time.sleep(rng.uniform(0.2, 2.0))
            bot.kill()
            kills += 1
            cut_short += bool(outcome(fake, asked)["lost"])
        one_round(TURNS[5])
        bot.start()
        fake.wait_for(lambda sent: not outcome(fake, asked)["lost"], timeout=240)
        assert bot.stop() == 0
    finally:
        if bot.process and bot.process.poll() is None:
            bot.process.kill()
        fake.stop()
    total = sum(len(m) for m in asked.values())
    result = outcome(fake, asked)
    assert result["lost"] == []
    assert result["disordered"] == []
    assert result["duplicates"] <= kills, result
    assert cut_short >= 3  # most kills came while messages were waiting for their answers
    history = History.open(f"sqlite:///{tmp_path / 'history.sqlite'}")
    assert history.stats().messages_in == total  # each message stored once
    counts = history.inbox("telegram").counts()
    assert (counts.pending, counts.done, counts.failed) == (0, total, 0)
    history.close()

"""`qabot telegram` as a real process: the shipped models, PTB, and the fake Bot API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.fake_telegram import FakeTelegram

pytestmark = [pytest.mark.slow, pytest.mark.model]


def test_qabot_telegram_answers_and_stops_cleanly(tmp_path, example_index_copy):
    fake = FakeTelegram().start()
    env = {**os.environ, "QABOT_TELEGRAM_TOKEN": fake.token,
           "QABOT_TELEGRAM_BASE_URL": fake.base_url, "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "qabot.cli", "telegram", "--index", str(tmp_path / "index"),
         "--db", f"sqlite:///{tmp_path / 'history.sqlite'}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        fake.user_message(42, "Can I pay with PayPal?")
        fake.user_message(42, "How long are deleted notes kept in the trash?")
        fake.wait_for(lambda sent: len([s for s in sent if s.method == "sendMessage"]) >= 2,
                      timeout=120)
        first, second = fake.messages_to(42)
        assert "PayPal" in first.text
        assert "30 days" in second.text
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        fake.stop()
    assert process.returncode == 0, output
    assert "Application started" in output
    assert fake.token not in output  # the token never reaches the logs

"""Run the real PTB Application (polling, or its webhook server on 127.0.0.1) against the fake
Bot API in a background thread, through ``telegram.serve`` as ``qabot telegram`` does."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from qabot.frontends.telegram import build_application, serve


class BotRunner:
    def __init__(self, engine, settings, fake, *, rate_limit: float = 1000.0,
                 webhook: tuple[int, str] | None = None):
        self.webhook = webhook  # (port, secret token): a webhook server instead of polling
        self.application = build_application(engine, settings, base_url=fake.base_url,
                                             rate_limit=rate_limit)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.error: BaseException | None = None

    async def _main(self) -> None:
        try:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            ready = asyncio.Event()
            webhook = None
            if self.webhook:
                port, secret = self.webhook
                webhook = dict(listen="127.0.0.1", port=port, url_path="telegram",
                               webhook_url=f"http://127.0.0.1:{port}/telegram",
                               secret_token=secret)
            serving = asyncio.create_task(serve(self.application, self._stop,
                                                webhook=webhook, poll_timeout=1, ready=ready))
            await asyncio.wait({serving, asyncio.ensure_future(ready.wait())},
                               return_when=asyncio.FIRST_COMPLETED)
            self._ready.set()
            await serving
        except BaseException as exc:  # surfaced by start()/stop()
            self.error = exc
            self._ready.set()

    def start(self) -> BotRunner:
        self._thread.start()
        self._ready.wait(30)
        if self.error:
            raise self.error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self.error:
            raise self.error


class BotProcess:
    """`qabot telegram` in a subprocess, its log appended to one file across restarts."""

    def __init__(self, tmp_path: Path, fake, *extra: str, lease: float = 2.0,
                 db: str | None = None, name: str = "bot"):
        self.log = tmp_path / f"{name}.log"
        self.args = [sys.executable, "-m", "qabot.cli", "telegram",
                     "--index", str(tmp_path / "index"),
                     "--db", db or f"sqlite:///{tmp_path / 'history.sqlite'}", *extra]
        self.env = {**os.environ, "QABOT_TELEGRAM_TOKEN": fake.token,
                    "QABOT_TELEGRAM_BASE_URL": fake.base_url, "HF_HUB_OFFLINE": "1",
                    "TRANSFORMERS_OFFLINE": "1", "QABOT_TELEGRAM_LEASE_SECONDS": str(lease)}
        self.process: subprocess.Popen | None = None

    def starts(self) -> int:
        return self.log.read_text().count("Application started") if self.log.exists() else 0

    def start(self, timeout: float = 120.0, wait: bool = True) -> None:
        starts = self.starts()
        with self.log.open("a") as out:
            self.process = subprocess.Popen(self.args, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT)
        if wait:
            self.wait_started(starts, timeout)

    def wait_started(self, starts: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.starts() <= starts:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the bot did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)


def outcome(fake, asked: dict[int, list[int]]) -> dict:
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

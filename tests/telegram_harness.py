"""Run the real PTB Application (polling, or qabot's webhook server on 127.0.0.1) against the fake
Bot API in a background thread, through ``telegram.serve`` as ``qabot telegram`` does."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from qabot.frontends.telegram import build_application, serve
from tests.net import listening_socket, port_of, server_fd_args
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent


class BotRunner:
    def __init__(self, engine, settings, fake, *, rate_limit: float = 1000.0,
                 webhook: tuple[socket.socket, str] | None = None):
        # (a listening socket, the secret token): a webhook server on it instead of polling
        self.webhook = webhook
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
                sock, secret = self.webhook
                webhook = dict(unix=sock, url_path="telegram",  # PTB: a socket of any family
                               webhook_url=f"http://127.0.0.1:{port_of(sock)}/telegram",
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
        started = self._ready.wait(60)
        if self.error:
            raise self.error
        assert started, "the bot did not start in 60 s"
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self.error:
            raise self.error


class BotProcess:
    """`qabot telegram` in a subprocess, its log appended to one file across restarts.

    ``webhook_secret``: a webhook replica, not polling. Each start hands the process a new
    listening socket (``--fd``; ``port`` is its port) and closes the test's copy, so that the
    port stops listening when the process dies, as a crashed server's does: posts to it are
    refused, not left waiting in the backlog of a socket nobody serves. ``serving()`` says
    whether the process now running has started to take updates.

    ``fake_models``: run ``tests.fake_models_cli`` (the same CLI with the test fakes for its
    models: the index must be built with ``HashingEmbedder``), for tests of delivery, not of
    the models; ``model_seconds``: how long their work on each message takes, as the real
    models' does (see ``fake_models_cli``)."""

    def __init__(self, tmp_path: Path, fake, *extra: str, lease: float = 2.0,
                 db: str | None = None, name: str = "bot", webhook_secret: str | None = None,
                 fake_models: bool = False, model_seconds: float = 0.05):
        self.log = tmp_path / f"{name}.log"
        module = "tests.fake_models_cli" if fake_models else "qabot.cli"
        self.args = [sys.executable, "-m", module, "telegram", "--index", str(tmp_path / "index"),
                     "--db", db or f"sqlite:///{tmp_path / 'history.sqlite'}", *extra]
        self.env = {**os.environ, "QABOT_TELEGRAM_TOKEN": fake.token,
                    "QABOT_TELEGRAM_BASE_URL": fake.base_url, "HF_HUB_OFFLINE": "1",
                    "TRANSFORMERS_OFFLINE": "1", "QABOT_TELEGRAM_LEASE_SECONDS": str(lease)}
        if fake_models:  # `tests` importable from any working directory
            self.env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
            self.env["QABOT_FAKE_MODEL_SECONDS"] = str(model_seconds)
        self.webhook_secret = webhook_secret
        self.port: int | None = None  # a webhook replica's, for the process started last
        self.process: subprocess.Popen | None = None
        self._starts_before = 0  # "Application started" lines logged before the last start
        self._started = False

    def starts(self) -> int:
        return self.log.read_text().count("Application started") if self.log.exists() else 0

    def start(self, timeout: float = 120.0, wait: bool = True) -> None:
        starts = self._starts_before = self.starts()
        self._started = False
        args, keys, sock = self.args, {}, None
        if self.webhook_secret is not None:
            sock = listening_socket()
            self.port = port_of(sock)
            fd_args, keys = server_fd_args(sock)
            args = [*self.args, "--webhook-url", f"http://127.0.0.1:{self.port}", *fd_args,
                    "--secret-token", self.webhook_secret]
        try:
            with self.log.open("a") as out:
                self.process = subprocess.Popen(args, env=self.env, stdout=out,
                                                stderr=subprocess.STDOUT, **keys)
        finally:
            if sock is not None:
                sock.close()  # the process holds the socket now
        if wait:
            self.wait_started(starts, timeout)

    def wait_started(self, starts: int, timeout: float = 120.0) -> None:
        def started() -> bool:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            return self.starts() > starts

        wait_until(started, timeout, interval=0.1, message="the bot did not start")

    def serving(self) -> bool:
        """Whether the process started last is alive and has started (reads the log only
        until it has)."""
        if self.process is None or self.process.poll() is not None:
            return False
        if not self._started:
            self._started = self.starts() > self._starts_before
        return self._started

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

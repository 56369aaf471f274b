"""Run the real PTB Application (polling, or its webhook server on 127.0.0.1) against the fake
Bot API in a background thread, through ``telegram.serve`` as ``qabot telegram`` does."""

from __future__ import annotations

import asyncio
import threading

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

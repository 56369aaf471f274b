"""One limit on every request body, whatever its framing: a pure ASGI middleware (``BodyLimit``).

It counts the bytes the server actually hands the app, not what a header says: a body framed
as chunked is counted as it comes, whatever Content-Length claims beside it. Every route is
covered, the API, /admin and any other, read by FastAPI, a form parser or nothing:

- a declared Content-Length over ``max_bytes``: 413 before the app runs or a byte is read;
- a body whose count passes ``max_bytes``: 413 at once; the rest is never read;
- a body that has not arrived whole ``timeout`` seconds after the app began to read it: 408
  (a stalled or trickled body holds a connection and a task for that long at most).

Those answers are ``{"error": ...}`` JSON (the API's error shape) with ``Connection: close``,
and the app sees the client gone (``http.disconnect``); whatever it answers then is dropped. A
response sent before the request's body was read to its end (a route that never reads it) and
the response to a request with both Content-Length and Transfer-Encoding (RFC 9112 6.1) also
carry ``Connection: close``: uvicorn then closes the connection after the response instead of
keeping it open for a body no one reads.
"""

from __future__ import annotations

import asyncio
import json
import logging

log = logging.getLogger(__name__)

DISCONNECT = {"type": "http.disconnect"}
CLOSE = (b"connection", b"close")


class BodyLimit:
    """``app`` with every request body limited to ``max_bytes``, read within ``timeout`` s."""

    def __init__(self, app, max_bytes: int, timeout: float):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _Exchange(self, scope, receive, send).run()


class _Exchange:
    """One request and its response, as the limit sees them."""

    def __init__(self, limit: BodyLimit, scope, receive, send):
        self.app, self.scope = limit.app, scope
        self.max_bytes, self.timeout = limit.max_bytes, limit.timeout
        self._receive, self._send = receive, send
        lengths = [v for k, v in scope["headers"] if k == b"content-length"]
        chunked = any(k == b"transfer-encoding" for k, _ in scope["headers"])
        # the server (h11) has refused a malformed or conflicting Content-Length already
        self.declared = int(lengths[0]) if lengths and lengths[0].isdigit() else None
        self.whole = not (chunked or self.declared)  # the body (if any) has come to its end
        self.close = chunked and bool(lengths)
        self.count = 0
        self.deadline: float | None = None
        self.started = False  # a response has started
        self.cut = False  # the body was refused: the app sees the client gone
        self.answered: int | None = None  # the refusal sent: the app's answer is dropped

    async def run(self) -> None:
        if self.declared is not None and self.declared > self.max_bytes:
            await self._refuse(413)
            return
        try:
            await self.app(self.scope, self.receive, self.send)
        except Exception:
            if self.answered is None:
                raise
            log.debug("after a %s answer", self.answered, exc_info=True)

    async def receive(self) -> dict:
        if self.cut:
            return DISCONNECT
        if self.whole:
            return await self._receive()  # only a disconnect can come: no time limit
        loop = asyncio.get_running_loop()
        if self.deadline is None:
            self.deadline = loop.time() + self.timeout
        try:
            message = await asyncio.wait_for(self._receive(),
                                             max(self.deadline - loop.time(), 0.01))
        except TimeoutError:
            return await self._refuse(408)
        if message["type"] != "http.request":
            self.whole = True  # the client has gone
            return message
        self.count += len(message.get("body", b""))
        if self.count > self.max_bytes:
            return await self._refuse(413)
        if not message.get("more_body", False):
            self.whole = True
        return message

    async def send(self, message: dict) -> None:
        if self.answered is not None:
            return
        if message["type"] == "http.response.start":
            self.started = True
            headers = list(message.get("headers", []))
            if (self.close or not self.whole) and not any(k.lower() == b"connection"
                                                          for k, _ in headers):
                message = {**message, "headers": [*headers, CLOSE]}
        await self._send(message)

    async def _refuse(self, status: int) -> dict:
        """Answer ``status`` (unless a response has started: it ends with the connection),
        and tell the app the client has gone."""
        self.cut = True
        if not self.started:
            self.answered = status
            error = (f"the body is over {self.max_bytes} bytes" if status == 413 else
                     f"the body did not arrive within {self.timeout:g} s")
            body = json.dumps({"error": error}).encode()
            await self._send({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()), CLOSE]})
            await self._send({"type": "http.response.body", "body": body})
        return DISCONNECT

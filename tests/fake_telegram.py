"""A fake Telegram Bot API server on 127.0.0.1 for tests and the load benchmark.

python-telegram-bot talks to it for real (``base_url``): getMe, getUpdates (long polling with
offsets), sendMessage, sendChatAction, answerCallbackQuery, editMessageReplyMarkup, plus the
calls PTB makes on start-up. Tests inject user updates and read what the bot sent; scripted
faults make the next calls to a method fail with HTTP 429 (retry_after), 502, 400 ("chat not
found"), or a dropped connection, optionally only for one chat.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

BOT = {"id": 999, "is_bot": True, "first_name": "qabot", "username": "qabot_test_bot",
       "can_join_groups": True, "can_read_all_group_messages": False,
       "supports_inline_queries": False}


@dataclass
class Sent:
    method: str
    params: dict
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def reply_to(self) -> int | None:
        """The user's message this one answers (``reply_parameters.message_id``)."""
        quote = self.params.get("reply_parameters")
        quote = json.loads(quote) if isinstance(quote, str) else quote
        return int(quote["message_id"]) if quote else None

    @property
    def reply_markup(self) -> dict | None:
        markup = self.params.get("reply_markup")
        return json.loads(markup) if isinstance(markup, str) else markup


class FakeTelegram:
    """Start with ``start()``; ``base_url`` is what PTB's builder takes."""

    def __init__(self, token: str = "123456:TEST-token", poll_cap: float = 0.5):
        self.token = token
        self.poll_cap = poll_cap  # longest a getUpdates call waits (keeps tests fast)
        self.sent: list[Sent] = []
        self.calls: list[str] = []
        self._updates: list[dict] = []
        self.queued_at: dict[int, float] = {}  # update id -> when it was queued
        self.message_of: dict[int, int] = {}  # update id -> the user message it carries
        self._next_update = 1
        self._next_message = 1
        self._faults: dict[str, deque] = {}
        self.failed: dict[str, int] = {}  # calls answered with a scripted fault, by method
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeTelegram:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out as two writes: without TCP_NODELAY, Nagle's algorithm
            # holds the body until the client's delayed ACK (40 ms on every call)
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                fake._handle(self)

            do_GET = do_POST

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # a bot killed mid-request (the crash tests) resets its connections

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.02,),
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    # ---------------------------------------------------------------- scripting

    def user_message(self, chat_id: int, text: str, *, user_id: int | None = None,
                     first_name: str = "Ann", chat_type: str = "private", **extra) -> int:
        """Queue an incoming message for getUpdates; returns its update id."""
        update = self.user_update(chat_id, text, user_id=user_id, first_name=first_name,
                                  chat_type=chat_type, **extra)
        return self._queue(update)

    def user_update(self, chat_id: int, text: str, *, user_id: int | None = None,
                    first_name: str = "Ann", chat_type: str = "private", **extra) -> dict:
        """An incoming message's update, with its update id, not queued (a test posts it to
        a webhook itself)."""
        user_id = chat_id if user_id is None else user_id
        message = {"message_id": self._message_id(), "date": int(time.time()),
                   "chat": {"id": chat_id, "type": chat_type, "first_name": first_name},
                   "from": {"id": user_id, "is_bot": False, "first_name": first_name},
                   **({"text": text} if text is not None else {}), **extra}
        if text and text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        with self._cond:
            update_id = self._next_update
            self._next_update += 1
        self.message_of[update_id] = message["message_id"]
        return {"update_id": update_id, "message": message}

    def edited_message(self, chat_id: int, text: str) -> int:
        message = {"message_id": self._message_id(), "date": int(time.time()),
                   "edit_date": int(time.time()), "text": text,
                   "chat": {"id": chat_id, "type": "private"},
                   "from": {"id": chat_id, "is_bot": False, "first_name": "Ann"}}
        return self._queue({"edited_message": message})

    def callback(self, chat_id: int, data: str, *, user_id: int | None = None,
                 message_id: int = 1) -> int:
        """A press on an inline button of the bot message ``message_id``."""
        user_id = chat_id if user_id is None else user_id
        query = {"id": f"cq{self._next_update}", "chat_instance": "ci", "data": data,
                 "from": {"id": user_id, "is_bot": False, "first_name": "Ann"},
                 "message": {"message_id": message_id, "date": int(time.time()),
                             "chat": {"id": chat_id, "type": "private"},
                             "from": BOT, "text": "..."}}
        return self._queue({"callback_query": query})

    def fail_next(self, method: str, fault: str, times: int = 1, retry_after: int = 1,
                  chat: int | None = None) -> None:
        """The next ``times`` calls of ``method`` (to ``chat`` only, if given) fail: '429',
        '502', '400' or 'drop'."""
        with self._cond:
            queue = self._faults.setdefault(method, deque())
            queue.extend([(fault, retry_after, chat)] * times)
            self.failed.setdefault(method, 0)

    def wait_for(self, predicate, timeout: float = 20.0) -> list[Sent]:
        """Wait until ``predicate(sent)`` is true; returns the sent list."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.sent):
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(s.method, s.chat_id, s.text[:60]) for s in self.sent]
                    raise AssertionError(f"timed out; sent so far: {seen}")
                self._cond.wait(min(left, 0.1))
            return list(self.sent)

    def messages_to(self, chat_id: int) -> list[Sent]:
        with self._cond:
            return [s for s in self.sent if s.method == "sendMessage" and s.chat_id == chat_id]

    # ---------------------------------------------------------------- the server side

    def _message_id(self) -> int:
        with self._cond:
            self._next_message += 1
            return self._next_message

    def _queue(self, payload: dict) -> int:
        with self._cond:
            if "update_id" not in payload:
                payload = {"update_id": self._next_update, **payload}
                self._next_update += 1
            update_id = payload["update_id"]
            self._updates.append(payload)
            self.queued_at[update_id] = time.monotonic()
            self._cond.notify_all()
            return update_id

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path = urlparse(request.path).path
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            return self._reply(request, 401, {"ok": False, "error_code": 401,
                                              "description": "Unauthorized"})
        method = path[len(prefix):]
        params = self._params(request)
        with self._cond:
            self.calls.append(method)
            faults = self._faults.get(method)
            fault = None
            if faults and faults[0][2] in (None, int(params.get("chat_id", 0) or 0)):
                fault = faults.popleft()
                self.failed[method] = self.failed.get(method, 0) + 1
        if fault is not None:
            kind, retry_after, _ = fault
            if kind == "400":
                return self._reply(request, 400, {"ok": False, "error_code": 400,
                                                  "description": "Bad Request: chat not found"})
            if kind == "drop":
                request.close_connection = True
                request.connection.close()
                return None
            if kind == "429":
                return self._reply(request, 429, {
                    "ok": False, "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry_after}",
                    "parameters": {"retry_after": retry_after}})
            return self._reply(request, 502, None, raw=b"<html>502 Bad Gateway</html>")
        return self._reply(request, 200, {"ok": True, "result": self._result(method, params)})

    def _result(self, method: str, params: dict):
        if method == "getMe":
            return BOT
        if method == "getUpdates":
            return self._get_updates(params)
        if method in ("deleteWebhook", "setWebhook", "setMyCommands", "sendChatAction",
                      "answerCallbackQuery", "close", "logOut"):
            self._record(method, params)
            return True
        if method in ("sendMessage", "editMessageReplyMarkup", "editMessageText"):
            self._record(method, params)
            chat = {"id": int(params.get("chat_id", 0)), "type": "private"}
            return {"message_id": int(params.get("message_id") or self._message_id()),
                    "date": int(time.time()), "chat": chat, "from": BOT,
                    "text": str(params.get("text", "..."))}
        self._record(method, params)
        return True

    def _record(self, method: str, params: dict) -> None:
        with self._cond:
            self.sent.append(Sent(method, params))
            self._cond.notify_all()

    def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), self.poll_cap)
        deadline = time.monotonic() + timeout
        with self._cond:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return list(self._updates[:100])

    @staticmethod
    def _params(request: BaseHTTPRequestHandler) -> dict:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        kind = request.headers.get("Content-Type", "")
        if "json" in kind and body:
            return json.loads(body)
        params = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        query = parse_qs(urlparse(request.path).query)
        params.update({k: v[-1] for k, v in query.items()})
        return params

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, code: int, payload, raw: bytes | None = None):
        body = raw if raw is not None else json.dumps(payload).encode()
        try:
            request.send_response(code)
            request.send_header("Content-Type",
                                "application/json" if raw is None else "text/html")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a long poll cut short at shutdown)

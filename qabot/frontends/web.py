"""The web channel's HTTP API: a thin FastAPI adapter over the same ChatEngine (``qabot web``).

``POST /api/v1/chat`` takes ``{"user", "text", "conversation_id"}`` and returns the
conversation id and the engine's typed Reply as JSON; ``POST /api/v1/feedback`` rates a reply;
``GET /api/v1/conversations/{id}/messages?user=U&after=ID`` pages through a conversation's
messages (the widget polls it for an operator's replies while a person answers; only the
conversation's own user may read it, anyone else gets 404);
the OpenAPI schema is at ``/api/v1/openapi.json``. Bad JSON, missing or over-long fields get a
4xx with a JSON error (``{"error": ..., "problems": [{"field", "problem"}]}``) and store
nothing. Limits: requests per minute per client (429 with ``Retry-After``; the client is the
socket's peer, or the X-Forwarded-For address only from a ``web_trusted_proxies`` proxy), one
body limit on every route whatever the framing, with a deadline for the body to arrive (413,
408: ``body_limit``), idle connections closed (``web_keep_alive_seconds``), CORS only for the
configured origins. Engine work runs in a small thread pool of its own, as in the Telegram
front end, so the event loop stays free and the models never run on more threads than the
cores can take.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from functools import cache, partial
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from qabot.app import operator_desk
from qabot.channels import MAX_MESSAGE_CHARS
from qabot.config import Settings
from qabot.dialogue.engine import ChatEngine
from qabot.dialogue.links import is_web_url
from qabot.dialogue.replies import Reply
from qabot.frontends.body_limit import BodyLimit
from qabot.frontends.render import first_name

CHANNEL = "web"
STATIC = Path(__file__).with_name("static")
HANDED_OFF = "I've asked a person from our support team to take over. They'll reply here."
ASKED_FOR_A_PERSON = "Talk to a person"  # the widget's button: what the transcript shows
API = "/api/v1"
USER_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"
LARGEST_ID = 2**63 - 1  # ids are the database's integers: 1 .. 2**63-1 (SQLite, BIGINT)


class ChatRequest(BaseModel):
    user: str = Field(pattern=USER_PATTERN, description="the client's id for its user "
                      "(the widget keeps a random one per browser)")
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS, description="the user's message")
    conversation_id: int | None = Field(default=None, ge=1, le=LARGEST_ID,
                                        description="continue this conversation (the user's "
                                        "own); null: the current one")


class FeedbackRequest(BaseModel):
    user: str = Field(pattern=USER_PATTERN, description="the user who got the reply")
    message_id: int = Field(ge=1, le=LARGEST_ID, description="the reply's message_id")
    helpful: bool


class HandoffRequest(BaseModel):
    user: str = Field(pattern=USER_PATTERN)
    conversation_id: int | None = Field(default=None, ge=1, le=LARGEST_ID)


class MessagesResponse(BaseModel):
    messages: list[dict] = Field(description="the conversation's messages after ``after``, "
                                 "oldest first, at most 100 (page on with the last id): id, "
                                 "from (user, bot or operator), text, kind (operator: a "
                                 "person's reply; released: the line saying the bot is back; "
                                 "else the bot reply's kind, or null for the user's), author "
                                 "(an operator's first name, else null), created_at (ISO 8601)")
    handed_off: bool = Field(description="whether the conversation waits for a person: poll "
                             "for their replies while it does")


PAGE = 100  # messages per GET .../messages


def message_json(message) -> dict:
    """A stored message as the messages route sends it (an operator by first name only)."""
    sender = ("user" if message.direction == "in" else
              "operator" if message.kind == "operator" else "bot")
    return {"id": message.id, "from": sender, "text": message.text, "kind": message.kind,
            "author": first_name(message.author) if sender == "operator" else None,
            "created_at": message.created_at.isoformat()}


class ChatResponse(BaseModel):
    conversation_id: int
    reply: dict = Field(description="the engine's Reply: kind (answer, faq, related: a "
                        "suggestion, not an answer, ...), text, answer, sources (title, "
                        "location, snippet, highlight, url: an http(s) URL or null; a related "
                        "reply's first source is its excerpt, the others articles to see "
                        "also), message_id, user_message_id, scores, notice (a line the "
                        "text starts with, to show first: the bot took the conversation back "
                        "from a handoff no one answered; else null)")


def reply_json(reply: Reply) -> dict:
    """The Reply as the API sends it: everything but the withheld candidate answer (that is
    for operators and evaluation, never for users); a source's ``url`` only when it is an
    http(s) URL (``links.is_web_url``), else null."""
    payload = asdict(reply)
    payload.pop("candidate", None)
    for source in payload["sources"]:
        if not is_web_url(source.get("url")):
            source["url"] = None  # only an http(s) URL is ever a link
        if source.get("highlight") is not None:
            source["highlight"] = list(source["highlight"])
    return payload


class RateLimiter:
    """At most ``per_minute`` requests per client in any 60 s (a sliding window)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}

    def retry_after(self, client: str, now: float | None = None) -> float:
        """0 when the request may go ahead (and counts); else seconds to wait."""
        now = time.monotonic() if now is None else now
        window = self._seen.setdefault(client, deque())
        while window and now - window[0] >= 60.0:
            window.popleft()
        if len(window) >= self.per_minute:
            return 60.0 - (now - window[0])
        window.append(now)
        if len(self._seen) > 10_000:  # forget idle clients
            for key in [k for k, v in self._seen.items() if not v or now - v[-1] >= 60.0]:
                del self._seen[key]
        return 0.0


def _error(status: int, message: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def client_address(request: Request) -> str:
    """The address a request counts against (rate limit, sign-in throttling): the socket's
    peer, or, when the peer is one of ``web_trusted_proxies``, the client its X-Forwarded-For
    names (uvicorn's proxy_headers rewrites the peer then, and only then: ``server_config``)."""
    return request.client.host if request.client else "?"


def _unparsable(exc: HTTPException) -> str | None:
    """What was wrong with a body FastAPI could not parse as JSON (its 400 "error parsing
    the body", raised from the cause), or None for any other HTTP error."""
    cause = exc.__cause__
    if exc.status_code != 400 or not isinstance(cause, ValueError | RecursionError):
        return None
    if isinstance(cause, UnicodeDecodeError):
        return f"not UTF-8: {cause.reason} at byte {cause.start}"
    if isinstance(cause, RecursionError):
        return "JSON nested too deeply"
    return f"not JSON: {cause}"


def build_app(engine: ChatEngine, settings: Settings, *,
              executor: ThreadPoolExecutor | None = None) -> FastAPI:
    """The ASGI app over ``engine`` (built by the composition root)."""
    app = FastAPI(title="qabot", version="1", openapi_url=f"{API}/openapi.json",
                  docs_url=None, redoc_url=None,
                  description="A customer-support bot that answers from a help centre.")
    pool = executor or ThreadPoolExecutor(max_workers=2, thread_name_prefix="qabot-web")
    limiter = RateLimiter(settings.web_rate_limit)

    async def run(fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(pool, partial(fn, *args,
                                                                              **kwargs))

    @app.middleware("http")
    async def limits(request: Request, call_next):
        limited = request.url.path.startswith(API) or request.url.path == "/admin/login"
        if limited and request.method == "POST":  # sign-in attempts count too
            wait = limiter.retry_after(client_address(request))
            if wait:
                return _error(429, "too many requests; try again later",
                              headers={"Retry-After": str(max(1, round(wait)))})
        return await call_next(request)

    # outside the rate limit, so that a body is refused before the limiter counts it; CORS
    # outermost, so that every answer (413, 408, 429 too) reaches the widget's page readably
    app.add_middleware(BodyLimit, max_bytes=settings.web_max_body_bytes,
                       timeout=settings.web_body_timeout_seconds)
    if settings.web_cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.web_cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Content-Type"])

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(p) for p in e["loc"][1:]) or "body",
                     "problem": e["msg"]} for e in exc.errors()]
        return _error(422, "invalid request", problems=problems)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        """A body that is not JSON in UTF-8 is invalid input (422) like malformed JSON, not
        FastAPI's 400 {"detail"}; any other HTTP error under /api/v1 in the API's shape."""
        if (problem := _unparsable(exc)) is not None:
            return _error(422, "invalid request", problems=[{"field": "body",
                                                             "problem": problem}])
        if request.url.path.startswith(f"{API}/"):
            return _error(exc.status_code, str(exc.detail), headers=exc.headers)
        return await http_exception_handler(request, exc)

    @app.post(f"{API}/chat", response_model=ChatResponse,
              responses={404: {"description": "no such conversation of this user"}})
    async def chat(body: ChatRequest):
        """Send the user's message; get the bot's reply."""
        conversation = await run(engine.start, CHANNEL, body.user)
        if body.conversation_id is not None and body.conversation_id != conversation:
            owner = await run(engine.owner_of_conversation, body.conversation_id)
            if owner != (CHANNEL, body.user):
                return _error(404, f"no conversation {body.conversation_id} of this user")
            conversation = body.conversation_id
        reply = await run(engine.respond, conversation, body.text)
        return {"conversation_id": conversation, "reply": reply_json(reply)}

    @app.post(f"{API}/feedback", responses={404: {"description": "no such reply of this user"}})
    async def feedback(body: FeedbackRequest):
        """Rate a reply: helpful or not (a second vote replaces the first)."""
        owner = await run(engine.owner_of_message, body.message_id)
        stored = await run(engine.message, body.message_id) if owner else None
        if owner != (CHANNEL, body.user) or stored is None or stored.direction != "out":
            return _error(404, f"no reply {body.message_id} of this user")
        await run(engine.feedback, body.message_id, body.helpful)
        return {"ok": True}

    @app.post(f"{API}/handoff", responses={404: {"description": "no such conversation"}})
    async def handoff(body: HandoffRequest):
        """Hand the user's conversation to a person (operators see it in /admin)."""
        conversation = await run(engine.start, CHANNEL, body.user)
        if body.conversation_id is not None and body.conversation_id != conversation:
            if await run(engine.owner_of_conversation, body.conversation_id) != (CHANNEL,
                                                                                  body.user):
                return _error(404, f"no conversation {body.conversation_id} of this user")
            conversation = body.conversation_id
        await run(engine.hand_off, conversation, "web: asked for a person",
                  said=ASKED_FOR_A_PERSON, reply=HANDED_OFF)
        return {"conversation_id": conversation, "text": HANDED_OFF}

    desk = operator_desk(engine)

    @app.get(f"{API}/conversations/{{conversation_id}}/messages",
             response_model=MessagesResponse,
             responses={404: {"description": "no such conversation of this user"}})
    async def messages(conversation_id: int, user: str = Query(pattern=USER_PATTERN),
                       after: int = Query(0, ge=0, le=LARGEST_ID)):
        """The conversation's messages after message ``after``: what the widget polls for
        while a person answers (their replies, kind operator, and the release line)."""
        if not 1 <= conversation_id <= LARGEST_ID or await run(
                engine.owner_of_conversation, conversation_id) != (CHANNEL, user):
            return _error(404, f"no conversation {conversation_id} of this user")
        rows = await run(desk.messages_after, conversation_id, after, PAGE)
        waiting = await run(engine.handed_off, conversation_id)
        return {"messages": [message_json(m) for m in rows], "handed_off": waiting}

    from qabot.frontends.web_admin import add_admin

    add_admin(app, engine, settings, run)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def demo():
        """A demo help-centre page with the widget."""
        return HTMLResponse((STATIC / "demo.html").read_text(encoding="utf-8"))

    @app.get("/widget.js", include_in_schema=False)
    async def widget():
        """The embeddable chat widget (plain JavaScript)."""
        return Response((STATIC / "widget.js").read_bytes(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=300"})

    return app


def server_config(app, settings: Settings, *, host: str = "127.0.0.1", port: int = 8000):
    """The uvicorn configuration ``serve`` runs ``app`` with, on either path: proxy headers
    (X-Forwarded-For, X-Forwarded-Proto) believed only from ``web_trusted_proxies`` (none by
    default: the peer is the client, uvicorn's own default of trusting 127.0.0.1 and its
    FORWARDED_ALLOW_IPS variable are not used), idle keep-alive connections closed after
    ``web_keep_alive_seconds``, and so is one that has not sent a request's headers whole that
    long after it opened or after its last response. The body limit and its deadline are the
    app's (``BodyLimit``)."""
    import uvicorn

    proxies = settings.web_trusted_proxies
    return uvicorn.Config(
        app, host=host, port=port, log_level="info", server_header=False,
        http=_h11_with_a_header_deadline(), ws="none",  # no route is a WebSocket
        proxy_headers=bool(proxies),
        forwarded_allow_ips=("*" if "*" in proxies else list(proxies)) if proxies else None,
        timeout_keep_alive=settings.web_keep_alive_seconds)


@cache
def _h11_with_a_header_deadline() -> type:
    """uvicorn's h11 protocol, where a request's headers must also come whole within
    ``timeout_keep_alive`` seconds of the connection opening or of its previous response,
    else the connection closes. uvicorn's own keep-alive timer starts only after a response
    and stops at the first byte that comes, so a client that sends nothing, or a header a byte
    at a time, would hold its connection for ever."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class H11WithAHeaderDeadline(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._header_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._header_deadline()

        def _header_deadline(self) -> None:
            self.loop.call_later(self.timeout_keep_alive, self._no_header_since, self.cycle)

        def _no_header_since(self, cycle) -> None:
            idle = self.cycle is cycle and (cycle is None or cycle.response_complete)
            if idle and not self.transport.is_closing():  # no request has begun since
                self.transport.close()

    return H11WithAHeaderDeadline


def serve(engine: ChatEngine, settings: Settings, *, host: str = "127.0.0.1",
          port: int = 8000, sock: socket.socket | None = None) -> None:
    """Serve the app with uvicorn until SIGINT or SIGTERM: on ``host``:``port``, or, given
    ``sock``, on that listening socket instead (``qabot web --fd``: a socket bound by the
    process that started this one, as the tests do, so no port is chosen twice)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    server = uvicorn.Server(server_config(build_app(engine, settings), settings, host=host,
                                          port=port))
    if sock is not None:
        logging.getLogger(__name__).info("serving on the socket handed over, %s",
                                         sock.getsockname())
    try:  # re-raises the SIGINT it stopped on, as uvicorn.run does
        server.run(sockets=None if sock is None else [sock])
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)  # as uvicorn.run exits when it could not start

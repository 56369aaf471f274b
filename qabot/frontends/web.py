"""The web channel's HTTP API: a thin FastAPI adapter over the same ChatEngine (``qabot web``).

``POST /api/v1/chat`` takes ``{"user", "text", "conversation_id"}`` and returns the
conversation id and the engine's typed Reply as JSON; ``POST /api/v1/feedback`` rates a reply;
the OpenAPI schema is at ``/api/v1/openapi.json``. Bad JSON, missing or over-long fields get a
4xx with a JSON error and store nothing. Limits: requests per minute per client (429 with
``Retry-After``), a maximum body size (413), CORS only for the configured origins. Engine work
runs in a small thread pool of its own, as in the Telegram front end, so the event loop stays
free and the models never run on more threads than the cores can take.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from functools import partial
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from qabot.config import Settings
from qabot.dialogue.engine import ChatEngine
from qabot.dialogue.links import is_web_url
from qabot.dialogue.replies import Reply

CHANNEL = "web"
STATIC = Path(__file__).with_name("static")
HANDED_OFF = "I've asked a person from our support team to take over. They'll reply here."
API = "/api/v1"
USER_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"


class ChatRequest(BaseModel):
    user: str = Field(pattern=USER_PATTERN, description="the client's id for its user "
                      "(the widget keeps a random one per browser)")
    text: str = Field(min_length=1, max_length=4000, description="the user's message")
    conversation_id: int | None = Field(default=None, description="continue this "
                                        "conversation (the user's own); null: the current one")


class FeedbackRequest(BaseModel):
    user: str = Field(pattern=USER_PATTERN, description="the user who got the reply")
    message_id: int = Field(description="the reply's message_id")
    helpful: bool


class HandoffRequest(BaseModel):
    user: str = Field(pattern=USER_PATTERN)
    conversation_id: int | None = None


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


def _error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


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

    if settings.web_cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.web_cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Content-Type"])

    @app.middleware("http")
    async def limits(request: Request, call_next):
        limited = request.url.path.startswith(API) or request.url.path == "/admin/login"
        if limited and request.method == "POST":  # sign-in attempts count too
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                return _error(411, "a Content-Length header is required")
            if int(length) > settings.web_max_body_bytes:
                return _error(413, f"the body is over {settings.web_max_body_bytes} bytes")
            client = request.client.host if request.client else "?"
            wait = limiter.retry_after(client)
            if wait:
                return JSONResponse({"error": "too many requests; try again later"},
                                    status_code=429,
                                    headers={"Retry-After": str(max(1, round(wait)))})
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(p) for p in e["loc"][1:]) or "body",
                     "problem": e["msg"]} for e in exc.errors()]
        return _error(422, "invalid request", problems=problems)

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
        await run(engine.hand_off, conversation, "web: asked for a person")
        return {"conversation_id": conversation, "text": HANDED_OFF}

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


def serve(engine: ChatEngine, settings: Settings, *, host: str = "127.0.0.1",
          port: int = 8000, sock: socket.socket | None = None) -> None:
    """Serve the app with uvicorn until SIGINT or SIGTERM: on ``host``:``port``, or, given
    ``sock``, on that listening socket instead (``qabot web --fd``: a socket bound by the
    process that started this one, as the tests do, so no port is chosen twice)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    app = build_app(engine, settings)
    options = dict(log_level="info", proxy_headers=True, server_header=False)
    if sock is None:
        uvicorn.run(app, host=host, port=port, **options)
        return
    server = uvicorn.Server(uvicorn.Config(app, **options))
    logging.getLogger(__name__).info("serving on the socket handed over, %s",
                                     sock.getsockname())
    try:
        server.run(sockets=[sock])  # re-raises the SIGINT it stopped on, as uvicorn.run does
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)  # as uvicorn.run exits when it could not start

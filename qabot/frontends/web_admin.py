"""The operator dashboard at ``/admin``: server-rendered pages, no script.

Sign-in with an operator account from the settings (``web_operators``: names and PBKDF2 hashes;
``web_secret_key`` signs the session), a session cookie that is HttpOnly, SameSite=Strict,
limited to ``/admin`` and Secure over HTTPS, and a CSRF token in every form (the sign-in form's
bound to a pre-session cookie). Each sign-in is a session row in the history database
(``history.sessions``) that every request checks: Sign out ends it, "Sign out everywhere" ends
all of the operator's, and a cookie whose session has ended opens nothing, however well signed.
While the dashboard is off (no operators or no key) every ``/admin`` route answers one 503 page.

The page shows the answer rate, the related suggestions and the votes per day (an SVG chart),
the unanswered questions grouped by similarity (a related reply is a suggestion, not an answer:
its question is among them), the replies users rated down with their kind and sources, the
conversations waiting for a person with their transcript and a Release button, the index with a
Rebuild button (the same reindex service as Telegram's /reindex), and the coverage-precision
curve of the last ``qabot eval support`` run (``web_eval_dir``).
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from html import escape
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from qabot.app import dashboard_reports, index_info, operator_activity
from qabot.app import reindex as reindex_service
from qabot.frontends.render import transcript
from qabot.frontends.web_auth import (
    SESSION_HOURS,
    SessionCookie,
    check_csrf,
    csrf_token,
    hash_password,
    issue_session,
    operators,
    read_session,
    verify_password,
)
from qabot.frontends.web_desk import Gate, add_desk, answer_link, operators_section

COOKIE, PRE = "qabot_session", "qabot_pre"
LARGEST_ID = 2**63 - 1  # the database's integer range (BIGINT): an id beyond it names nothing
HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
           "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'",
           "Referrer-Policy": "no-referrer"}
STYLE = ("body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1b1b}"
         "header{background:#2455c3;color:#fff;padding:10px 20px;display:flex;"
         "justify-content:space-between;align-items:center}main{max-width:1000px;margin:auto;"
         "padding:10px 20px}section{margin:22px 0}h2{font-size:18px;border-bottom:1px solid #ddd}"
         "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 6px;"
         "border-bottom:1px solid #eee;vertical-align:top}.muted{color:#666}pre{white-space:"
         "pre-wrap;background:#f6f6f6;padding:8px;border-radius:6px;max-height:220px;"
         "overflow:auto}button{font:inherit;padding:4px 10px;cursor:pointer}.notice{background:"
         "#eef6e8;padding:8px;border-radius:6px}form.inline{display:inline}")


def _page(title: str, body: str, status: int = 200, operator: str | None = None,
          csrf: str | None = None) -> HTMLResponse:
    out = ""
    if operator:
        token = f'<input type="hidden" name="csrf" value="{escape(csrf or "")}">'
        out = (f'<span>{escape(operator)} <form class="inline" method="post" '
               f'action="/admin/logout">{token}<button>Sign out</button></form> '
               f'<form class="inline" method="post" action="/admin/logout-everywhere">{token}'
               '<button title="End every session of this operator, in every browser">'
               'Sign out everywhere</button></form></span>')
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f'<style>{STYLE}</style></head><body><header><strong>qabot operators</strong>'
            f'{out}</header><main>{body}</main></body></html>')
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/admin", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(body).items()}


def database_id(text: str) -> int | None:
    """A path's id as the database can hold it (1 .. 2**63-1, ASCII digits); else None."""
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        return None
    number = int(text)
    return number if 1 <= number <= LARGEST_ID else None


def chart(days) -> str:
    """Questions and answered replies per day as bars, votes as numbers: an inline SVG."""
    width, height, top = 720, 150, max([d.questions for d in days] + [1])
    step = width / max(len(days), 1)
    bars = []
    for i, d in enumerate(days):
        x = i * step
        for value, color, inset in ((d.questions, "#c9d3ea", 0), (d.answered, "#2455c3", 3)):
            h = height * value / top
            bars.append(f'<rect x="{x + 1 + inset:.1f}" y="{height - h:.1f}" '
                        f'width="{max(step - 2 - 2 * inset, 1):.1f}" height="{h:.1f}" '
                        f'fill="{color}"><title>{d.day}: {value}</title></rect>')
    return (f'<svg viewBox="0 0 {width} {height + 18}" width="100%" role="img" '
            f'aria-label="Questions and answers per day">{"".join(bars)}'
            f'<text x="0" y="{height + 14}" font-size="11">{days[0].day}</text>'
            f'<text x="{width}" y="{height + 14}" font-size="11" text-anchor="end">'
            f'{days[-1].day}</text></svg>')


def _off_page() -> HTMLResponse:
    return _page("Dashboard off", "<p>The operator dashboard is off: set "
                 "<code>QABOT_WEB_OPERATORS</code> (from <code>qabot web --hash-password"
                 "</code>) and <code>QABOT_WEB_SECRET_KEY</code>.</p>", status=503)


def add_admin(app: FastAPI, engine, settings, run) -> None:
    """Wire /admin into ``app``; ``run`` runs engine work off the event loop. Without operators
    or a secret key, every /admin route answers the 503 page that says what to set."""
    accounts = operators(settings.web_operators)
    secret = settings.web_secret_key
    if not (accounts and secret):
        @app.api_route("/admin", methods=["GET", "POST"], include_in_schema=False)
        @app.api_route("/admin/{_rest:path}", methods=["GET", "POST"], include_in_schema=False)
        async def off(_rest: str = ""):
            return _off_page()
        return
    sessions = engine.history.operator_sessions()  # the rows that say who is signed in
    decoy: list[str] = []  # a hash to check unknown names against (same time as a known one)

    async def session_of(request: Request) -> SessionCookie | None:
        """The request's session: its cookie signed and unexpired, its row live, its operator
        still an account; None for anything else (no cookie, a malformed one, signed out)."""
        cookie = read_session(secret, request.cookies.get(COOKIE))
        if cookie is None or cookie.operator not in accounts:
            return None
        if await run(sessions.check, cookie.session_id) != cookie.operator:
            return None
        return cookie

    def form_ok(request: Request, form: dict) -> bool:
        return check_csrf(secret, request.cookies.get(COOKIE), form.get("csrf"))

    def refused() -> HTMLResponse:
        return _page("Refused", "<p>Refused: sign in, and use the dashboard's own buttons."
                     "</p>", status=403)

    def signed_out() -> RedirectResponse:
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(COOKIE, path="/admin")
        return response

    @app.get("/admin/login", include_in_schema=False)
    async def login_page(request: Request, failed: bool = False):
        pre = request.cookies.get(PRE)
        if not (pre and pre.isascii() and pre.isalnum() and len(pre) == 32):
            pre = secrets.token_hex(16)  # ours, or a new one: never a client's odd value
        body = ("<h2>Sign in</h2>" + ('<p class="notice">Wrong name or password.</p>'
                                      if failed else "") +
                '<form method="post" action="/admin/login">'
                f'<input type="hidden" name="csrf" value="{csrf_token(secret, "pre:" + pre)}">'
                '<p><label>Name <input name="name" autocomplete="username" required></label></p>'
                '<p><label>Password <input name="password" type="password" '
                'autocomplete="current-password" required></label></p>'
                "<p><button>Sign in</button></p></form>")
        response = _page("Sign in", body, status=401 if failed else 200)
        _cookie(response, request, PRE, pre, 3600)
        return response

    @app.post("/admin/login", include_in_schema=False)
    async def login(request: Request):
        form = await _form(request)
        pre = request.cookies.get(PRE)
        if not check_csrf(secret, f"pre:{pre}" if pre else None, form.get("csrf")):
            return _page("Refused", "<p>The form has expired; "
                         '<a href="/admin/login">sign in again</a>.</p>', status=403)
        name, password = form.get("name", ""), form.get("password", "")
        if name not in accounts and not decoy:
            decoy.append(hash_password(secrets.token_hex(8)))
        stored = accounts.get(name) or decoy[0]
        if not (await run(verify_password, password, stored) and name in accounts):
            return await login_page(request, failed=True)
        session_id = await run(sessions.open, name, timedelta(hours=SESSION_HOURS))
        response = RedirectResponse("/admin", status_code=303)
        _cookie(response, request, COOKIE, issue_session(secret, name, session_id),
                SESSION_HOURS * 3600)
        return response

    @app.post("/admin/logout", include_in_schema=False)
    async def logout(request: Request):
        """End this browser's session (its row too, so a copy of the cookie opens nothing)."""
        if not form_ok(request, await _form(request)):
            return refused()
        cookie = read_session(secret, request.cookies.get(COOKIE))
        if cookie is not None:
            await run(sessions.end, cookie.session_id)
        return signed_out()

    @app.post("/admin/logout-everywhere", include_in_schema=False)
    async def logout_everywhere(request: Request):
        """End every session of the signed-in operator, in every browser."""
        session, refusal = await guarded(request)
        if refusal is not None:
            return refusal
        await run(sessions.end_all, session.operator)
        return signed_out()

    @app.get("/admin", include_in_schema=False)
    async def dashboard(request: Request, notice: str | None = None):
        session = await session_of(request)
        if session is None:
            return signed_out()
        csrf = csrf_token(secret, request.cookies[COOKIE])
        data = await run(_gather, engine, settings)
        return _page("Dashboard", _render(data, csrf, notice), operator=session.operator,
                     csrf=csrf)

    async def guarded_form(request: Request):
        """The session, the form and a refusal (the refusal None, or the others) for a
        state-changing post: it needs a live session and the form's CSRF token."""
        form = await _form(request)
        session = await session_of(request)
        if session is None or not form_ok(request, form):
            return None, None, refused()
        return session, form, None

    async def guarded(request: Request):
        """The session and a refusal (one of them None) for a state-changing post."""
        session, _, refusal = await guarded_form(request)
        return session, refusal

    def not_found(request: Request, session, text: str) -> HTMLResponse:
        return _page("Not found", f'<p>{escape(text)} <a href="/admin">Back to the '
                     "dashboard</a>.</p>", status=404, operator=session.operator,
                     csrf=csrf_token(secret, request.cookies[COOKIE]))

    add_desk(app, engine, settings, run, Gate(
        session_of=session_of, guarded=guarded_form,
        csrf=lambda request: csrf_token(secret, request.cookies[COOKIE]), page=_page,
        signed_out=signed_out, not_found=not_found), database_id)

    @app.post("/admin/rebuild", include_in_schema=False)
    async def rebuild(request: Request):
        _session, refusal = await guarded(request)
        if refusal is not None:
            return refusal
        try:
            text = await run(reindex_service, engine, settings)
        except Exception as exc:  # the old index stays live; say why
            text = f"Rebuild failed, the previous index stays in use: {exc}"
        return RedirectResponse(f"/admin?notice={quote(text)}", status_code=303)

    @app.get("/admin/curve.png", include_in_schema=False)
    async def curve(request: Request):
        if settings.web_eval_dir is None or await session_of(request) is None:
            return Response(status_code=404)
        path = settings.web_eval_dir / "curve.png"
        return FileResponse(path, headers=HEADERS) if path.is_file() else Response(
            status_code=404)


def _gather(engine, settings) -> dict:
    reports = dashboard_reports(engine)
    waiting = reports.open_handoffs()[:20]
    summary = None
    if settings.web_eval_dir is not None and (settings.web_eval_dir / "summary.json").is_file():
        summary = json.loads((settings.web_eval_dir / "summary.json").read_text())
    return {"days": reports.daily(30), "clusters": engine.unanswered_clusters()[:15],
            "rated_down": engine.rated_answers(-1)[-15:][::-1],
            "handoffs": [(h, engine.transcript(h.conversation_id, 20)) for h in waiting],
            "index": index_info(settings), "eval": summary,
            "curve": settings.web_eval_dir is not None
            and (settings.web_eval_dir / "curve.png").is_file(),
            "operators": operator_activity(engine, settings), "now": engine.history.clock()}


def _render(data: dict, csrf: str, notice: str | None) -> str:
    token = f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
    days = data["days"]
    asked = sum(d.answered + d.unanswered for d in days)
    rate = sum(d.answered for d in days) / asked if asked else 0.0
    parts = [f'<p class="notice">{escape(notice)}</p>' if notice else ""]
    parts.append(
        f"<section><h2>Last 30 days</h2><p>{sum(d.questions for d in days)} messages, answer "
        f"rate {rate:.0%}, {sum(d.related for d in days)} related suggestions (not answers: "
        f"counted as unanswered), 👍 {sum(d.helpful for d in days)}, 👎 "
        f"{sum(d.not_helpful for d in days)}. <span class=muted>Light bars: messages; dark: "
        f"answered.</span></p>{chart(days)}</section>")
    rows = "".join(f"<tr><td>{c.count}</td><td>{escape(c.example)}</td><td class=muted>"
                   f"{escape(' · '.join(dict.fromkeys(c.questions[1:4])))}</td>"
                   f"<td>{answer_link(c.example, c.questions[1:])}</td></tr>"
                   for c in data["clusters"])
    parts.append("<section><h2>Unanswered questions, grouped</h2>" + (
        f"<table><tr><th>count</th><th>example</th><th>also</th><th></th></tr>{rows}</table>"
        if rows
        else "<p class=muted>None.</p>") + "</section>")
    rows = "".join(
        f"<tr><td>{escape(r.question)}</td><td>{escape(r.answer.kind or '')}</td><td>"
        f"{escape(r.answer.text[:300])}</td><td>"
        f"{escape('; '.join(s.get('location', '') for s in r.answer.sources[:2]))}</td>"
        f"<td>{answer_link(r.question)}</td></tr>"
        for r in data["rated_down"])
    parts.append("<section><h2>Replies rated 👎</h2>" + (
        "<table><tr><th>question</th><th>kind</th><th>reply</th><th>sources</th><th></th>"
        "</tr>"
        f"{rows}</table>" if rows else "<p class=muted>None.</p>") + "</section>")
    items = "".join(
        f'<div><p><strong><a href="/admin/conversations/{h.conversation_id}">Conversation '
        f"{h.conversation_id}</a></strong> ({escape(h.channel)} user "
        f"{escape(h.name or h.user)}, waiting since {h.requested_at:%Y-%m-%d %H:%M}) "
        f'<a href="/admin/conversations/{h.conversation_id}">Open and reply</a> ' 
        f'<form class="inline" method="post" action="/admin/release/{h.conversation_id}">'
        f"{token}<button>Release to the bot</button></form></p>"
        f"<pre>{escape(transcript(messages, '').strip())}</pre></div>"
        for h, messages in data["handoffs"])
    parts.append("<section><h2>Waiting for a person</h2>" + (items or
                 "<p class=muted>Nobody.</p>") + "</section>")
    parts.append(operators_section(data["operators"], data["now"]))
    info = data["index"]
    described = ("missing" if info.get("missing") else
                 f"{info['generation']}: {info['files']} files, {info['passages']} passages, "
                 f"{info['faq_entries']} FAQ entries, model {info['model']}, updated "
                 f"{info['updated_at']}")
    parts.append(f"<section><h2>Index</h2><p>{escape(info['index'])}: {escape(described)}</p>"
                 f'<form method="post" action="/admin/rebuild">{token}<button>Rebuild from '
                 f"{escape(info.get('knowledge_base') or 'the knowledge base')}</button></form>"
                 "</section>")
    curve = ('<img src="/admin/curve.png" alt="coverage and precision over the answer '
             'confidence" style="max-width:100%">' if data["curve"] else "")
    summary = (f"<pre>{escape(json.dumps(data['eval'], indent=1)[:1500])}</pre>"
               if data["eval"] else "")
    parts.append("<section><h2>Last support evaluation</h2>" + (
        curve + summary if curve or summary else "<p class=muted>None: run <code>qabot eval "
        "support --out DIR</code> and set <code>QABOT_WEB_EVAL_DIR</code>.</p>") + "</section>")
    return "".join(parts)

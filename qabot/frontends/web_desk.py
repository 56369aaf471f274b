"""The operator loop on the dashboard: answer a waiting user, and teach the bot the answer.

- ``GET /admin/conversations/{id}``: the transcript (the user's messages, the bot's replies,
  each operator's), a reply box while the conversation waits for a person, and *Release to
  the bot*. ``POST .../reply`` stores the reply (``history.desk``): the widget fetches it, the
  Telegram front end sends it from the outbox. After a reply the page names whoever else
  replied since it was loaded (the form carries the last message id it showed).
- ``GET /admin/answer`` (*Answer this* on an unanswered group or a 👎 reply): the question,
  the curated answer and the group's other questions as other phrasings; ``POST`` saves them
  to the managed FAQ sheet and reindexes (``app.add_operator_answers``): the next user who asks
  gets the answer, and the group leaves the unanswered list.
- ``operators_section``: handoffs waiting, replies by operator, answers added and their uses.

Every route needs a live session (``Gate``), every form its CSRF token, and every text written
by a user or an operator is escaped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from qabot.app import add_operator_answers, operator_desk
from qabot.channels import MAX_MESSAGE_CHARS as MAX_REPLY_CHARS
from qabot.dialogue.handoff import RELEASED_LINE
from qabot.errors import NotIndexedError, OperatorAnswerError
from qabot.errors import OperatorReplyError as DeskError

TRANSCRIPT = 200  # the last messages a conversation page shows
PHRASINGS = 10  # the group questions *Answer this* offers as other phrasings


@dataclass(frozen=True)
class Gate:
    """What web_admin hands the operator pages: the signed-in session of a request (None:
    not signed in), a state-changing post's (session, form, refusal), the CSRF token of the
    request's session, and the page renderer."""

    session_of: Callable[[Request], Awaitable[object | None]]
    guarded: Callable[[Request], Awaitable[tuple]]
    csrf: Callable[[Request], str]
    page: Callable[..., object]
    signed_out: Callable[[], object]
    not_found: Callable[[Request, object, str], object]


def add_desk(app: FastAPI, engine, settings, run, gate: Gate,
             database_id: Callable[[str], int | None]) -> None:
    """Wire the conversation page, the reply, and *Answer this* into ``app``."""
    desk = operator_desk(engine)

    @app.get("/admin/conversations/{conversation}", include_in_schema=False)
    async def conversation_page(conversation: str, request: Request,
                                notice: str | None = None, seen: str | None = None):
        session = await gate.session_of(request)
        if session is None:
            return gate.signed_out()
        conversation_id = database_id(conversation)
        owner = (await run(engine.owner_of_conversation, conversation_id)
                 if conversation_id else None)
        if owner is None:
            return gate.not_found(request, session, f"No conversation {conversation[:40]}.")
        messages = await run(engine.transcript, conversation_id, TRANSCRIPT)
        waiting = await run(engine.handed_off, conversation_id)
        body = conversation_html(conversation_id, owner, messages, waiting,
                                 gate.csrf(request), notice, database_id(seen or "") or 0)
        return gate.page(f"Conversation {conversation_id}", body, operator=session.operator,
                         csrf=gate.csrf(request))

    @app.post("/admin/conversations/{conversation}/reply", include_in_schema=False)
    async def reply(conversation: str, request: Request):
        """Store the operator's reply (delivered on the user's channel); 303 to the page."""
        session, form, refusal = await gate.guarded(request)
        if refusal is not None:
            return refusal
        conversation_id = database_id(conversation)
        if conversation_id is None or await run(engine.owner_of_conversation,
                                                conversation_id) is None:
            return gate.not_found(request, session, f"No conversation {conversation[:40]}.")
        seen = database_id(form.get("seen", "")) or 0
        try:
            stored = await run(desk.reply, conversation_id, form.get("text", ""),
                               session.operator)
        except DeskError as exc:
            return _back(conversation_id, f"Not sent: {exc}.", seen)
        others = [a for a in await run(desk.authors_after, conversation_id, seen)
                  if a != session.operator]
        text = "Sent." + (f" Also replied since you loaded this page: {', '.join(others)}."
                          if others else "")
        return _back(conversation_id, text, stored.id if not others else seen)

    @app.get("/admin/answer", include_in_schema=False)
    async def answer_form(request: Request):
        session = await gate.session_of(request)
        if session is None:
            return gate.signed_out()
        query = request.query_params
        also = [q for q in query.getlist("also") if q.strip()][:PHRASINGS]
        body = answer_html(gate.csrf(request), query.get("q", ""), "", also, "")
        return gate.page("Answer this", body, operator=session.operator,
                         csrf=gate.csrf(request))

    @app.post("/admin/answer", include_in_schema=False)
    async def answer(request: Request):
        """Save the answer to the managed FAQ sheet and reindex; 303 to the dashboard."""
        session, form, refusal = await gate.guarded(request)
        if refusal is not None:
            return refusal
        question, text = form.get("question", ""), form.get("answer", "")
        category = form.get("category", "").strip() or None
        also = [line.strip() for line in form.get("also", "").splitlines() if line.strip()]
        try:
            taught = await run(add_operator_answers, settings, question, text, also=also,
                               category=category, author=session.operator, engine=engine)
        except OperatorAnswerError as exc:
            body = answer_html(gate.csrf(request), question, text, also, category or "",
                               error=str(exc))
            return gate.page("Answer this", body, status=400, operator=session.operator,
                             csrf=gate.csrf(request))
        except NotIndexedError as exc:
            return RedirectResponse(f"/admin?notice={quote(str(exc))}", status_code=303)
        notice = (f"Saved {len(taught.answers)} question(s) to {taught.sheet.name}; "
                  f"{taught.resolved} unanswered question(s) answered. {taught.summary}")
        return RedirectResponse(f"/admin?notice={quote(notice)}", status_code=303)

    @app.post("/admin/release/{conversation}", include_in_schema=False)
    async def release(conversation: str, request: Request):
        """Give a handed-off conversation back to the bot, with the line that tells the user
        so (the id is checked after the session: a malformed one is this page's 404)."""
        session, _form, refusal = await gate.guarded(request)
        if refusal is not None:
            return refusal
        conversation_id = database_id(conversation)
        if conversation_id is None:
            return gate.not_found(request, session, f"No conversation {conversation[:40]}.")
        done = await run(desk.release, conversation_id, f"web:{session.operator}",
                         RELEASED_LINE)
        text = (f"Conversation {conversation_id} is back with the bot." if done
                else f"Conversation {conversation_id} is not handed off.")
        return RedirectResponse(f"/admin?notice={quote(text)}", status_code=303)


def _back(conversation_id: int, notice: str, seen: int) -> RedirectResponse:
    query = urlencode({"notice": notice, "seen": seen})
    return RedirectResponse(f"/admin/conversations/{conversation_id}?{query}", status_code=303)


def _who(message, owner: tuple[str, str]) -> str:
    if message.direction == "in":
        return f"user ({owner[0]} {owner[1]})"
    if message.kind == "operator":
        return f"{message.author or 'operator'} (operator)"
    return f"bot ({message.kind or 'reply'})"


def conversation_html(conversation_id: int, owner: tuple[str, str], messages, waiting: bool,
                      csrf: str, notice: str | None, seen: int) -> str:
    token = f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
    last = max((m.id for m in messages), default=0)
    shown = [m for m in messages if m.text.strip()]  # not the bot's silences while handed off
    rows = "".join(
        f'<tr{" class=new" if seen and m.id > seen else ""}><td class=muted>'
        f"{m.created_at:%Y-%m-%d %H:%M}</td><td>{escape(_who(m, owner))}</td>"
        f'<td style="white-space:pre-wrap">{escape(m.text)}</td></tr>' for m in shown)
    status = ("waiting for a person" if waiting else "with the bot (not waiting for a person)")
    parts = [f'<p class="notice">{escape(notice)}</p>' if notice else "",
             f'<p><a href="/admin">← Dashboard</a></p><h2>Conversation {conversation_id}: '
             f"{escape(owner[0])} user {escape(owner[1])}, {status}</h2>",
             f"<table><tr><th>when</th><th>who</th><th>text</th></tr>{rows}</table>"
             if rows else "<p class=muted>No messages.</p>"]
    if waiting:
        parts.append(
            f'<form method="post" action="/admin/conversations/{conversation_id}/reply">'
            f'{token}<input type="hidden" name="seen" value="{last}"><p><label>Your reply '
            f'(the user sees your first name)<br><textarea name="text" rows="4" cols="80" '
            f'maxlength="{MAX_REPLY_CHARS}" required></textarea></label></p><p><button>Send'
            "</button></p></form>"
            f'<form method="post" action="/admin/release/{conversation_id}">{token}'
            "<button>Release to the bot</button></form>")
    parts.append(f'<p><a href="/admin/conversations/{conversation_id}">Reload</a> to see '
                 "new messages.</p>")
    return "".join(parts)


def answer_link(question: str, also=()) -> str:
    """The dashboard's *Answer this* link for a question (and its group's other ones)."""
    query = urlencode([("q", question), *(("also", q) for q in list(also)[:PHRASINGS])])
    return f'<a href="/admin/answer?{escape(query)}">Answer this</a>'


def answer_html(csrf: str, question: str, answer: str, also, category: str,
                error: str | None = None) -> str:
    also_text = "\n".join(dict.fromkeys(q for q in also if q.strip() and q != question))
    return ('<p><a href="/admin">← Dashboard</a></p><h2>Answer this</h2>'
            + (f'<p class="notice">Not saved: {escape(error)}</p>' if error else "")
            + "<p>Saved to the knowledge base's operator answers sheet and indexed at once: "
            "the next user who asks this, or something like it, gets your answer.</p>"
            '<form method="post" action="/admin/answer">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            '<p><label>Question<br><input name="question" size="80" required value="'
            f'{escape(question)}"></label></p>'
            '<p><label>Answer<br><textarea name="answer" rows="6" cols="80" maxlength="4000" '
            f"required>{escape(answer)}</textarea></label></p>"
            "<p><label>Other phrasings of the question, one per line (remove those your "
            'answer does not fit)<br><textarea name="also" rows="4" cols="80">'
            f"{escape(also_text)}</textarea></label></p>"
            '<p><label>Category (optional) <input name="category" value="'
            f'{escape(category)}"></label></p><p><button>Save and teach the bot</button></p>'
            "</form>")


def operators_section(activity, now: datetime) -> str:
    """Handoffs waiting and the oldest wait, replies by operator, answers added and used."""
    oldest = ""
    if activity.oldest_waiting_since is not None:
        since = activity.oldest_waiting_since
        if since.tzinfo is None:
            since = since.replace(tzinfo=now.tzinfo)
        minutes = max(0, int((now - since).total_seconds() // 60))
        oldest = f", the oldest for {minutes} minutes"
    replies = ", ".join(f"{escape(name)} {count}" for name, count in activity.replies_by.items())
    rows = "".join(
        f"<tr><td>{a.created_at:%Y-%m-%d}</td><td>{escape(a.author or '')}</td><td>"
        f"{escape(a.questions[0])}" + (f" <span class=muted>(+{len(a.questions) - 1} "
                                       "phrasings)</span>" if len(a.questions) > 1 else "")
        + f"</td><td>{a.uses}</td></tr>" for a in activity.answers)
    return (f"<section><h2>Operators</h2><p>{activity.waiting} conversation(s) waiting for a "
            f"person{oldest}. Replies in the last {activity.days} days: "
            f"{replies or 'none'}.</p>"
            f"<p>Answers added in the last {activity.days} days: {len(activity.answers)}.</p>"
            + ("<table><tr><th>added</th><th>by</th><th>question</th><th>used since</th></tr>"
               f"{rows}</table>" if rows else "") + "</section>")

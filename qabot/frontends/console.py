"""The console front end: ``qabot chat`` (interactive) and ``qabot ask`` (one question)."""

from __future__ import annotations

import json
from collections.abc import Callable

from qabot.dialogue.engine import ChatEngine
from qabot.dialogue.replies import Reply
from qabot.errors import QabotError
from qabot.frontends.render import RELATED_LABEL, first_name, related_text, web_links

CHANNEL = "console"
RATEABLE = ("answer", "faq", "related")  # replies /good and /bad rate
HELP = """Type a question about the product. Commands:
  /good, /bad   rate the last reply       /human   talk to a person
  /reset        start a new conversation  /forget  delete my history
  /quit         leave (or Ctrl-D)"""
HANDED_OFF = "I've asked a person from our support team to take over."
RESUMED_HANDOFF = ("bot> This conversation is waiting for a person from the support team, so "
                   "the bot stays quiet here; type /reset to start a new conversation with the "
                   "bot.")


def format_reply(reply: Reply, show_sources: bool = True) -> str:
    """The reply as console text: the answer, then its sources with the answer marked. A
    related reply is labelled as a suggestion, with the candidate marked in its excerpt and
    its links as text."""
    if reply.silent:
        return "(a person from the support team will answer here; the bot stays quiet)"
    if reply.kind == "related":
        return format_related(reply)
    lines = [reply.text]  # a notice, if any, is the text's first paragraph
    if show_sources and reply.kind == "answer":
        for i, source in enumerate(reply.sources, 1):
            whole = source.highlight == (0, len(source.snippet))  # the steps themselves
            lines.append(f"  [{i}] {source.location}" if whole
                         else f"  [{i}] {source.location}: {source.highlighted('«', '»')}")
    return "\n".join(lines)


def format_related(reply: Reply) -> str:
    """A related reply: the label, then its text with the candidate in «» (its citation and
    links are in the text; a link the text had no room for follows it)."""
    lines = [*([reply.notice] if reply.notice else []), RELATED_LABEL,
             related_text(reply.body, reply.sources)]
    lines += [f"  {title} — {url}" for title, url in web_links(reply.sources)
              if url not in reply.text]
    return "\n".join(lines)


class TeamMessages:
    """What the support team wrote in a console conversation since it was last looked at (an
    operator's replies from the dashboard, the line saying the bot is back): the console has
    no push, so the chat shows them at the user's next turn."""

    def __init__(self, engine: ChatEngine, conversation: int):
        from qabot.app import operator_desk

        self.desk = operator_desk(engine)
        self.seen = max((m.id for m in engine.transcript(conversation, 1)), default=0)

    def lines(self, conversation: int) -> list[str]:
        new = self.desk.messages_after(conversation, self.seen)
        self.seen = max([self.seen, *(m.id for m in new)])
        return [f"{first_name(m.author)} (support team)> {m.text}" if m.kind == "operator"
                else f"bot> {m.text}" for m in new if m.kind in ("operator", "released")]


def chat(engine: ChatEngine, user: str, *, read: Callable[[str], str] = input,
         write: Callable[[str], None] = print, show_sources: bool = True) -> int:
    """A read-reply loop until /quit or end of input. History is stored by the engine. The
    user's current conversation goes on; when it waits for a person, a line says so first,
    and how to leave it. What the support team wrote meanwhile shows at each turn."""
    conversation = engine.start(CHANNEL, user)
    last: Reply | None = None
    write(f"qabot: chatting as '{user}' (conversation {conversation}). /help for commands.")
    if engine.handed_off(conversation):
        write(RESUMED_HANDOFF)
    team = TeamMessages(engine, conversation)
    while True:
        try:
            line = read("you> ")
        except (EOFError, KeyboardInterrupt):
            write("")
            return 0
        for said in team.lines(conversation):
            write(said)
        command = line.strip().lower()
        if command in ("/quit", "/exit"):
            return 0
        if command == "/help":
            write(HELP)
            continue
        if command == "/reset":
            conversation = engine.reset(conversation)
            team = TeamMessages(engine, conversation)
            write(f"bot> New conversation ({conversation}). What can I help you with?")
            continue
        if command == "/forget":
            engine.forget(CHANNEL, user)
            conversation = engine.start(CHANNEL, user)
            team = TeamMessages(engine, conversation)
            write("bot> Your conversation history has been deleted.")
            continue
        if command == "/human":
            engine.hand_off(conversation, "/human", said="/human", reply=HANDED_OFF)
            write(f"bot> {HANDED_OFF}")
            continue
        if command in ("/good", "/bad"):
            if last is None or last.kind not in RATEABLE:
                write("bot> There is no answer to rate yet.")
            else:
                engine.feedback(last.message_id, helpful=command == "/good")
                write("bot> Thanks for the feedback!")
            continue
        reply = engine.respond(conversation, line)
        write("bot> " + format_reply(reply, show_sources))
        last = reply
        if reply.kind == "end":
            conversation = engine.start(CHANNEL, user)
            team = TeamMessages(engine, conversation)


def ask(engine: ChatEngine, question: str, user: str, *, as_json: bool = False,
        conversation: int | None = None, write: Callable[[str], None] = print) -> int:
    """Answer one question, in a new conversation of the user's, or in ``conversation`` (one
    of the user's console conversations) to go on with it."""
    if conversation is None:
        conversation = engine.start(CHANNEL, user, new=True)
    elif engine.owner_of_conversation(conversation) != (CHANNEL, user):
        raise QabotError(f"no console conversation {conversation} of user '{user}' (qabot "
                         "chat shows the number of yours)")
    reply = engine.respond(conversation, question)
    if as_json:
        write(json.dumps(reply.to_dict(), ensure_ascii=False, indent=2))
    else:
        write(format_reply(reply))
    return 0

"""The channels a user can talk to the bot on, as the history stores them (``users.channel``):
one name per front end. Help texts and checks list them from here."""

from __future__ import annotations

CONSOLE = "console"  # qabot chat / qabot ask (frontends/console.py)
TELEGRAM = "telegram"  # qabot telegram (frontends/telegram_io.py)
WEB = "web"  # qabot web: the HTTP API and the widget (frontends/web.py)
CHANNELS = (CONSOLE, TELEGRAM, WEB)
MAX_MESSAGE_CHARS = 4000  # the longest message the web API takes, or an operator may send
# channels whose operator messages are pushed to the user (through the outbox: history.desk);
# the web widget pulls them (GET /api/v1/conversations/{id}/messages), the console shows them
# at the user's next turn
PUSHED = (TELEGRAM,)


def spoken(names: tuple[str, ...] = CHANNELS) -> str:
    """'console, telegram or web'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"

"""`qabot chat`, `qabot ask`, `qabot telegram`, `qabot web`, `qabot health`: running the bot."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys

from qabot.cli.options import settings_from
from qabot.errors import QabotError


def add_parsers(sub, common) -> None:
    ch = sub.add_parser("chat", parents=[common], help="talk to the bot in the terminal",
                        description="Interactive chat; the conversation is stored in the "
                        "history database. /help lists the commands.")
    ch.add_argument("--user", default=getpass.getuser(), help="who is chatting (default: you)")
    ch.add_argument("--no-sources", action="store_true", help="hide the cited passages")
    ak = sub.add_parser("ask", parents=[common], help="ask one question and print the reply",
                        description="Ask one question in a new conversation (stored in the "
                        "history database), or in --conversation N to go on with that one.")
    ak.add_argument("question")
    ak.add_argument("--user", default=getpass.getuser())
    ak.add_argument("--conversation", type=int, metavar="N",
                    help="go on with your console conversation N (qabot chat shows its "
                    "number) instead of starting a new one")
    ak.add_argument("--json", action="store_true",
                    help="print the whole reply (kind, intent, scores, sources) as JSON")

    tg = sub.add_parser(
        "telegram", parents=[common], help="run the Telegram bot (long polling or a webhook)",
        description="Run the bot on Telegram until interrupted. The token comes from "
        "QABOT_TELEGRAM_TOKEN (or the config file), never from the command line. Long "
        "polling by default; --webhook-url runs a webhook server instead (several replicas "
        "behind a load balancer, with a PostgreSQL history).")
    tg.add_argument("--webhook-url", metavar="URL",
                    help="public HTTPS URL Telegram posts updates to (…/telegram is appended)")
    tg.add_argument("--listen", default="0.0.0.0", help="webhook: address to listen on")
    tg.add_argument("--port", type=int, default=8443, help="webhook: port (default 8443)")
    tg.add_argument("--fd", type=int, help=argparse.SUPPRESS)  # see inherited_socket
    tg.add_argument("--secret-token", metavar="TOKEN", default=os.environ.get(
        "QABOT_TELEGRAM_WEBHOOK_SECRET"), help="webhook: the secret Telegram sends in a header, "
        "required, the same on every replica; posts without it are refused "
        "(default: $QABOT_TELEGRAM_WEBHOOK_SECRET)")

    wb = sub.add_parser(
        "web", parents=[common], help="serve the bot's HTTP API",
        description="Serve POST /api/v1/chat and /api/v1/feedback (OpenAPI schema at "
        "/api/v1/openapi.json) over the same engine and history as the other front ends. "
        "Limits: web_rate_limit requests per minute per client, web_max_body_bytes per "
        "request, CORS for web_cors_origins only.")
    wb.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1; 0.0.0.0 for every one)")
    wb.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    wb.add_argument("--fd", type=int, help=argparse.SUPPRESS)  # see inherited_socket
    wb.add_argument("--hash-password", metavar="NAME", help="print an operator entry for "
                    "web_operators (NAME:pbkdf2_sha256$...) from a password typed at the prompt "
                    "(or piped on stdin), and exit")

    he = sub.add_parser("health", parents=[common],
                        help="check that the bot can start: settings, index, models, database",
                        description="Exit 0 and print 'ok' when the settings are valid, the "
                        "index and the models are readable and the history database opens "
                        "(the Docker health check; loads no model weights).")
    he.add_argument("--json", action="store_true")
    for parser in (ch, ak):
        parser.set_defaults(func=cmd_chat)
    tg.set_defaults(func=cmd_telegram)
    wb.set_defaults(func=cmd_web)
    he.set_defaults(func=cmd_health)


def cmd_chat(args: argparse.Namespace) -> int:
    from qabot.app import build_engine
    from qabot.frontends import console

    engine = build_engine(settings_from(args))
    if args.command == "ask":
        return console.ask(engine, args.question, args.user, as_json=args.json,
                           conversation=args.conversation)
    print("loading models ...", file=sys.stderr)
    engine.warm_up()
    return console.chat(engine, args.user, show_sources=not args.no_sources)


def cmd_health(args: argparse.Namespace) -> int:
    from qabot.app import health

    report = health(settings_from(args))
    print(json.dumps(report) if args.json else
          f"ok: index {report['index']} ({report['passages']} passages), "
          f"{report['intents']} intents, {report['conversations']} conversations")
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    import logging

    from qabot.app import build_engine
    from qabot.frontends import web

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO)
    if args.hash_password:
        return _print_operator(args.hash_password)
    settings = settings_from(args)
    print("loading models ...", file=sys.stderr)
    engine = build_engine(settings, warm=True)
    web.serve(engine, settings, host=args.host, port=args.port, sock=inherited_socket(args.fd))
    return 0


def _print_operator(name: str) -> int:
    from qabot.frontends.web_auth import hash_password

    if not name.strip() or ":" in name or "," in name:
        raise QabotError(f"an operator name without ':' or ',' is needed, got {name!r}")
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise QabotError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise QabotError("use a password of at least 8 characters")
    print(f"{name.strip()}:{hash_password(password)}")
    return 0


def cmd_telegram(args: argparse.Namespace) -> int:
    import logging

    from qabot.app import build_engine
    from qabot.frontends import telegram

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO)
    settings = settings_from(args)
    if not settings.telegram_token:
        raise QabotError("no Telegram bot token: set QABOT_TELEGRAM_TOKEN (from @BotFather)")
    if args.webhook_url:
        telegram.check_webhook_secret(args.secret_token)  # before the models load
    engine = build_engine(settings, warm=True)
    telegram.run(engine, settings, webhook_url=args.webhook_url, listen=args.listen,
                 port=args.port, secret_token=args.secret_token, sock=inherited_socket(args.fd))
    return 0


def inherited_socket(fd: int | None) -> socket.socket | None:
    """The listening TCP socket ``--fd`` names (a hidden option of ``qabot web`` and ``qabot
    telegram``, in place of --host/--listen and --port): the tests bind a socket on a free
    port, start the server with it (``subprocess.Popen(..., pass_fds=[fd])``) and so never
    pick a port another process may take before the server binds it. None without ``--fd``."""
    if fd is None:
        return None
    return socket.socket(fileno=fd)  # family and type read from the descriptor

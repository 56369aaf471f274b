"""qabot: the bot's command line.

``chat`` / ``ask`` talk to the bot, ``telegram`` runs it on Telegram; ``history`` manages
stored conversations; ``export feedback`` turns rated answers into training data; ``train`` /
``eval`` / ``export reader`` are the model commands (``qabot/cli_models.py``). Errors a user
can fix print one line on stderr and exit 1; bad flags exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from datetime import timedelta
from pathlib import Path

from qabot import __version__, cli_models
from qabot.errors import Error, QabotError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_AGE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """'90d', '12h', '2w', '30m' -> a timedelta."""
    m = _AGE.match(text)
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"expected an age such as 90d, 12h, 2w or 30m, got {text!r}")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qabot",
        description="Customer-support question answering over your own help center. "
        "Index a knowledge base with 'qabot-index build KB_DIR', then 'qabot chat'.",
    )
    parser.add_argument("--version", action="version", version=f"qabot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE",
                        help="TOML settings file (default: $QABOT_CONFIG); QABOT_* env vars "
                        "override it")
    common.add_argument("--index", type=Path, metavar="DIR",
                        help="index folder (default: $QABOT_INDEX_DIR or .qabot/index)")
    common.add_argument("--db", metavar="URL", help="history database URL (default: "
                        "$QABOT_DATABASE_URL or sqlite:///.qabot/history.sqlite)")

    ch = sub.add_parser("chat", parents=[common], help="talk to the bot in the terminal",
                        description="Interactive chat; the conversation is stored in the "
                        "history database. /help lists the commands.")
    ch.add_argument("--user", default=getpass.getuser(), help="who is chatting (default: you)")
    ch.add_argument("--no-sources", action="store_true", help="hide the cited passages")
    ak = sub.add_parser("ask", parents=[common], help="ask one question and print the reply")
    ak.add_argument("question")
    ak.add_argument("--user", default=getpass.getuser())
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
    tg.add_argument("--secret-token", metavar="TOKEN", default=os.environ.get(
        "QABOT_TELEGRAM_WEBHOOK_SECRET"), help="webhook: secret Telegram sends in a header "
        "(default: $QABOT_TELEGRAM_WEBHOOK_SECRET)")

    he = sub.add_parser("health", parents=[common],
                        help="check that the bot can start: settings, index, models, database",
                        description="Exit 0 and print 'ok' when the settings are valid, the "
                        "index and the models are readable and the history database opens "
                        "(the Docker health check; loads no model weights).")
    he.add_argument("--json", action="store_true")

    history = sub.add_parser("history", help="stored conversations").add_subparsers(
        dest="what", required=True, metavar="ACTION")
    hp = history.add_parser("purge", parents=[common],
                            help="delete conversations older than an age")
    hp.add_argument("--older-than", type=parse_age, metavar="AGE",
                    help="e.g. 90d, 12h, 2w (default: retention_days, 90)")
    hf = history.add_parser("forget", parents=[common],
                            help="delete one user and all their history")
    hf.add_argument("--user", required=True, help="the user's id in that channel")
    hf.add_argument("--channel", default="console", help="console or telegram "
                    "(default: console)")
    hs = history.add_parser("stats", parents=[common],
                            help="conversations, answer rate, feedback")
    hs.add_argument("--json", action="store_true")
    hu = history.add_parser("unanswered", parents=[common],
                            help="latest questions the bot could not answer")
    hu.add_argument("--limit", type=int, default=20)

    groups = cli_models.add_commands(sub)
    ef = groups["export"].add_parser(
        "feedback", parents=[common],
        help="answers users rated helpful -> SQuAD-format training data",
        description="Write the answers users marked helpful as SQuAD v1.1 JSON (train a reader "
        "on it with 'qabot train reader --base-model ...'), and optionally the unanswered "
        "questions as CSV for operators.")
    ef.add_argument("--format", choices=("squad",), default="squad")
    ef.add_argument("--out", required=True, type=Path, metavar="FILE")
    ef.add_argument("--unanswered", type=Path, metavar="CSV",
                    help="also write the unanswered questions here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in ("chat", "ask"):
            return cmd_chat(args)
        if args.command == "health":
            return cmd_health(args)
        if args.command == "telegram":
            return cmd_telegram(args)
        if args.command == "history":
            return cmd_history(args)
        if args.command == "export" and args.what == "feedback":
            return cmd_export_feedback(args)
        return cli_models.run(args)
    except Error as exc:  # qabot's and the indexer's errors
        print(f"qabot: error: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as exc:  # unreadable or malformed data files
        print(f"qabot: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qabot: interrupted", file=sys.stderr)
        return 130


def _settings(args: argparse.Namespace):
    from qabot.config import load_settings

    return load_settings(args.config, index_dir=args.index, database_url=args.db)


def cmd_chat(args: argparse.Namespace) -> int:
    from qabot.app import build_engine
    from qabot.frontends import console

    engine = build_engine(_settings(args))
    if args.command == "ask":
        return console.ask(engine, args.question, args.user, as_json=args.json)
    print("loading models ...", file=sys.stderr)
    engine.warm_up()
    return console.chat(engine, args.user, show_sources=not args.no_sources)


def cmd_health(args: argparse.Namespace) -> int:
    from indexer.manifest import read_manifest
    from qabot.errors import IndexNotFoundError
    from qabot.history import History
    from qabot.intents.classifier import IntentClassifier
    from qabot.reader.model import DEFAULT_MODEL_DIR

    settings = _settings(args)
    if not (settings.index_dir / "manifest.json").is_file():
        raise IndexNotFoundError(f"no index at {settings.index_dir}")
    manifest = read_manifest(settings.index_dir)
    reader_dir = settings.reader_model or DEFAULT_MODEL_DIR
    if not (reader_dir / "reader_config.json").is_file():
        raise QabotError(f"no reader model at {reader_dir}")
    intents = IntentClassifier(settings.intent_model)  # reads its JSON and YAML only
    history = History.open(settings.database_url)
    stats = history.stats()
    history.close()
    report = {"ok": True, "index": str(settings.index_dir), "passages": manifest.passages,
              "intents": len(intents.labels), "conversations": stats.conversations}
    print(json.dumps(report) if args.json else
          f"ok: index {settings.index_dir} ({manifest.passages} passages), "
          f"{len(intents.labels)} intents, {stats.conversations} conversations")
    return 0


def cmd_telegram(args: argparse.Namespace) -> int:
    import logging

    from qabot.app import build_engine
    from qabot.frontends import telegram

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO)
    settings = _settings(args)
    if not settings.telegram_token:
        raise QabotError("no Telegram bot token: set QABOT_TELEGRAM_TOKEN (from @BotFather)")
    engine = build_engine(settings, warm=True)
    telegram.run(engine, settings, webhook_url=args.webhook_url, listen=args.listen,
                 port=args.port, secret_token=args.secret_token)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from qabot.history import History

    settings = _settings(args)
    history = History.open(settings.database_url)
    if args.what == "purge":
        age = args.older_than or timedelta(days=settings.retention_days)
        print(f"deleted {history.purge(age)} conversations not touched for {age}")
    elif args.what == "forget":
        n = history.forget_user(args.channel, args.user)
        print(f"deleted user {args.channel}:{args.user} and {n} conversations" if n
              else f"no history for {args.channel}:{args.user}")
    elif args.what == "stats":
        stats = history.stats()
        if args.json:
            print(json.dumps({**stats.__dict__, "answer_rate": round(stats.answer_rate, 4)}))
        else:
            print(f"{stats.users} users, {stats.conversations} conversations, "
                  f"{stats.messages_in} messages from users")
            print(f"answered {stats.answered}, unanswered {stats.unanswered} (answer rate "
                  f"{stats.answer_rate:.1%}), handoffs {stats.handoffs}, feedback "
                  f"+{stats.feedback_up} / -{stats.feedback_down}")
    else:
        for q in history.unanswered(args.limit):
            print(f"{q.created_at:%Y-%m-%d %H:%M}  {q.question}")
    return 0


def cmd_export_feedback(args: argparse.Namespace) -> int:
    from qabot.history import History
    from qabot.history.export import feedback_to_squad, write_unanswered_csv

    history = History.open(_settings(args).database_url)
    data, skipped = feedback_to_squad(history.rated_answers(1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    n = sum(len(p["qas"]) for a in data["data"] for p in a["paragraphs"])
    print(f"wrote {n} questions from helpful answers to {args.out}"
          + (f" ({skipped} rated replies were FAQ answers or had no span)" if skipped else ""))
    if args.unanswered:
        questions = history.unanswered()
        write_unanswered_csv(questions, args.unanswered)
        print(f"wrote {len(questions)} unanswered questions to {args.unanswered}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

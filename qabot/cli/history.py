"""`qabot history purge|forget|stats|unanswered` and `qabot export feedback`."""

from __future__ import annotations

import argparse
import json
import re
from datetime import timedelta
from pathlib import Path

from qabot.channels import CONSOLE, spoken
from qabot.cli.options import settings_from

_AGE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """'90d', '12h', '2w', '30m' -> a timedelta."""
    m = _AGE.match(text)
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"expected an age such as 90d, 12h, 2w or 30m, got {text!r}")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def add_parsers(sub, common, export) -> None:
    history = sub.add_parser("history", help="stored conversations").add_subparsers(
        dest="what", required=True, metavar="ACTION")
    hp = history.add_parser("purge", parents=[common],
                            help="delete conversations older than an age")
    hp.add_argument("--older-than", type=parse_age, metavar="AGE",
                    help="e.g. 90d, 12h, 2w (default: retention_days, 90)")
    hf = history.add_parser("forget", parents=[common],
                            help="delete one user and all their history")
    hf.add_argument("--user", required=True, help="the user's id in that channel")
    hf.add_argument("--channel", default=CONSOLE,
                    help=f"the channel the id is from: {spoken()} (default: %(default)s)")
    hs = history.add_parser("stats", parents=[common],
                            help="conversations, answer rate, feedback")
    hs.add_argument("--json", action="store_true")
    hu = history.add_parser("unanswered", parents=[common],
                            help="latest questions the bot could not answer")
    hu.add_argument("--limit", type=int, default=20)
    for parser in (hp, hf, hs, hu):
        parser.set_defaults(func=cmd_history)
    ef = export.add_parser(
        "feedback", parents=[common],
        help="answers users rated helpful -> SQuAD-format training data",
        description="Write the answers users marked helpful as SQuAD v1.1 JSON (train a reader "
        "on it with 'qabot train reader --base-model ...'), and optionally the unanswered "
        "questions as CSV for operators.")
    ef.add_argument("--format", choices=("squad",), default="squad")
    ef.add_argument("--out", required=True, type=Path, metavar="FILE")
    ef.add_argument("--unanswered", type=Path, metavar="CSV",
                    help="also write the unanswered questions here")
    ef.set_defaults(func=cmd_export_feedback)


def cmd_history(args: argparse.Namespace) -> int:
    from qabot.history import History

    settings = settings_from(args)
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
            print(f"related {stats.related} (suggestions, not answers: counted as "
                  "unanswered)")
    else:
        for q in history.unanswered(args.limit):
            print(f"{q.created_at:%Y-%m-%d %H:%M}  {q.question}")
    return 0


def cmd_export_feedback(args: argparse.Namespace) -> int:
    from qabot.history import History
    from qabot.history.export import feedback_to_squad, write_unanswered_csv

    history = History.open(settings_from(args).database_url)
    data, skipped = feedback_to_squad(history.rated_answers(1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    n = sum(len(p["qas"]) for a in data["data"] for p in a["paragraphs"])
    print(f"wrote {n} questions from helpful answers to {args.out}"
          + (f" ({skipped} rated replies were FAQ answers, related suggestions or had "
             "no span)" if skipped else ""))
    if args.unanswered:
        questions = history.unanswered()
        write_unanswered_csv(questions, args.unanswered)
        print(f"wrote {len(questions)} unanswered questions to {args.unanswered}")
    return 0

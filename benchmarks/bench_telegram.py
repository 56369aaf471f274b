"""The Telegram front end under load: 200 chats x 5 messages through PTB and a fake Bot API.

Each simulated user sends their next message when the previous reply arrives (200 users at
once, closed loop). The bot is the real thing: ``qabot.frontends.telegram`` on PTB 22 with the
rate limiter (30 messages/s, Telegram's own limit) over the real ChatEngine (shipped models,
examples/kb, SQLite history), polling a fake Bot API server on 127.0.0.1
(``tests/fake_telegram.py``). Reported: messages answered, lost and duplicated, throughput,
reply latency p50/p95 (update queued -> reply received by the server), and the latency of 20
knowledge questions from one user alone. Baseline in the same run: the same 1,000 messages
through ``ChatEngine.respond`` directly, one at a time.

Run: ``.venv/bin/python benchmarks/bench_telegram.py`` (about 3 minutes on 2 cores).
Result: ``benchmarks/results/bench_telegram.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
import numpy as np
from _common import REPO, write_result

sys.path.insert(0, str(REPO))  # the fake Bot API server lives with the tests

KB = REPO / "examples" / "kb"
QUESTIONS = ["How long are deleted notes kept in the trash?", "Can I pay with PayPal?",
             "How do I turn on two-factor authentication?", "how many devices on the free plan?",
             "how long do I have to ask for a refund on a yearly plan?",
             "Where are your data centres?", "How do I export my notes?",
             "What are the API rate limits?"]


def conversation(chat: int) -> list[str]:
    return ["hi", QUESTIONS[chat % len(QUESTIONS)], QUESTIONS[(chat + 3) % len(QUESTIONS)],
            "is there an apple watch app?", "thanks!"]


def percentiles(values: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(values, 50)), 1),
            "p95_ms": round(float(np.percentile(values, 95)), 1),
            "max_ms": round(float(np.max(values)), 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chats", type=int, default=200)
    args = p.parse_args()
    started = time.perf_counter()

    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.app import build_engine
    from qabot.config import load_settings
    from tests.fake_telegram import FakeTelegram
    from tests.telegram_harness import BotRunner

    work = Path(tempfile.mkdtemp(prefix="qabot-bench-tg-"))
    build(KB, work / "index", SentenceTransformerEmbedder())
    chats = list(range(5000, 5000 + args.chats))
    turns = len(conversation(0))

    # baseline: the engine alone, one message at a time
    engine = build_engine(load_settings(env={}, index_dir=work / "index",
                                        database_url=f"sqlite:///{work / 'direct.sqlite'}"),
                          warm=True)
    direct_ms = []
    t0 = time.perf_counter()
    for turn in range(turns):
        for chat in chats:
            conv = engine.start("bench", str(chat))
            t = time.perf_counter()
            engine.respond(conv, conversation(chat)[turn])
            direct_ms.append((time.perf_counter() - t) * 1000)
    direct_seconds = time.perf_counter() - t0
    print(f"direct: {len(direct_ms) / direct_seconds:.1f} messages/s", flush=True)

    # through Telegram
    fake = FakeTelegram().start()
    settings = load_settings(env={}, index_dir=work / "index", telegram_token=fake.token,
                             database_url=f"sqlite:///{work / 'telegram.sqlite'}")
    engine = build_engine(settings, warm=True)
    runner = BotRunner(engine, settings, fake, rate_limit=30.0).start()
    asked: dict[int, list[int]] = {chat: [] for chat in chats}  # update ids, in order
    t0 = time.perf_counter()
    for chat in chats:
        asked[chat].append(fake.user_message(chat, conversation(chat)[0]))
    deadline = time.monotonic() + 400
    got = dict.fromkeys(chats, 0)  # replies received per chat, counted incrementally
    seen = done = 0
    while done < len(chats) and time.monotonic() < deadline:
        fresh = fake.sent[seen:]
        seen += len(fresh)
        for reply in fresh:
            chat = reply.chat_id
            if reply.method != "sendMessage" or chat not in got:
                continue
            got[chat] += 1
            if got[chat] == len(asked[chat]) < turns:  # the user reads it and sends the next
                asked[chat].append(fake.user_message(chat, conversation(chat)[len(asked[chat])]))
            done += got[chat] == turns
        time.sleep(0.005)
    seconds = time.perf_counter() - t0
    time.sleep(2)  # anything sent twice would arrive now

    # one user alone: the front end's own latency, without queueing behind 199 others
    alone, solo_ms = 9999, []
    for i in range(20):
        update_id = fake.user_message(alone, QUESTIONS[i % len(QUESTIONS)])
        fake.wait_for(lambda sent, n=i + 1: len([s for s in sent if s.method == "sendMessage"
                                                 and s.chat_id == alone]) >= n)
        solo_ms.append((fake.messages_to(alone)[-1].at - fake.queued_at[update_id]) * 1000)
    runner.stop()
    fake.stop()

    latencies, lost, duplicated = [], 0, 0
    for chat in chats:
        replies = fake.messages_to(chat)
        lost += max(0, turns - len(replies))
        duplicated += max(0, len(replies) - turns)
        for update_id, reply in zip(asked[chat], replies):
            latencies.append((reply.at - fake.queued_at[update_id]) * 1000)
    result = {
        "chats": len(chats), "messages": len(chats) * turns,
        "telegram": {"answered": len(latencies), "lost": lost, "duplicated": duplicated,
                     "seconds": round(seconds, 1),
                     "messages_per_second": round(len(latencies) / seconds, 1),
                     "reply_latency": percentiles(latencies),
                     "rate_limit_per_second": 30, "reader_precision": engine.reader.precision,
                     "one_user_alone": {"messages": len(solo_ms), **percentiles(solo_ms)}},
        "direct_engine": {"seconds": round(direct_seconds, 1),
                          "messages_per_second": round(len(direct_ms) / direct_seconds, 1),
                          "respond": percentiles(direct_ms)},
    }
    print(result, flush=True)
    path = write_result("bench_telegram", result, started)
    print(f"total {time.perf_counter() - started:.0f} s; result {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

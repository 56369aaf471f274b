"""The Telegram front end as real processes (issue 16): load with two webhook replicas vs one on
PostgreSQL, and the crash test's figures.

Load: ``--chats`` users (200) x 5 messages, closed loop (each user sends their next message
when the previous reply arrives), against N = 1 and N = 2 ``qabot telegram --webhook-url``
processes (shipped models, examples/kb, one PostgreSQL history started for the run, one
index folder). Updates are posted to the replicas in turn, as a load balancer in front of
them would (and to the other one when a post fails). Reported for each N: messages answered,
lost, duplicated, out of order; replies per second; reply latency p50/p95 (update posted ->
reply received by the fake Bot API server). Both runs on the same 2 cores: a second replica
adds a second copy of the models competing for them.

Crash: ``qabot telegram`` in long-polling mode (SQLite history) against a fake Bot API that
delivers unacknowledged updates again, as Telegram does; 30 chats send 3 messages before each
of ``--lives`` (10) starts, and each life is killed with SIGKILL at a random moment 0.2-1.5 s
after it started answering; a last life answers what is left. Reported: messages, kills, kills
that came while messages waited, lost, out of order, duplicated (the window between Telegram
taking a reply and the bot marking its update done), and the seconds from the last start to
the last reply.

Run: ``.venv/bin/python benchmarks/bench_telegram_replicas.py`` (about 8 minutes; needs
PostgreSQL's server binaries, as the tests do).
Result: ``benchmarks/results/bench_telegram_replicas.json``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
import numpy as np
from _common import REPO, write_result

sys.path.insert(0, str(REPO))  # the fake Bot API server and the process harness live in tests/

from bench_telegram import conversation  # the same 5 turns per user

from tests.net import free_port, post_update

SECRET = "bench-secret"
TURNS = 5


def post(port: int, update: dict) -> bool:
    return post_update(port, update, SECRET)


def percentiles(values: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(values, 50)), 1),
            "p95_ms": round(float(np.percentile(values, 95)), 1)}


def load(n_replicas: int, work: Path, db_url: str, chats: list[int]) -> dict:
    from sqlalchemy import create_engine, text

    from tests.fake_telegram import FakeTelegram
    from tests.telegram_harness import BotProcess, outcome

    engine = create_engine(db_url)
    with engine.begin() as c:  # a fresh history for each run
        c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    fake = FakeTelegram().start()
    ports = [free_port() for _ in range(n_replicas)]
    replicas = [BotProcess(work, fake, "--webhook-url", f"http://127.0.0.1:{port}",
                           "--listen", "127.0.0.1", "--port", str(port), "--secret-token",
                           SECRET, db=db_url, name=f"load{n_replicas}-{i}")
                for i, port in enumerate(ports)]
    asked: dict[int, list[int]] = {chat: [] for chat in chats}
    posted_at: dict[int, float] = {}  # user message id -> when it was posted
    try:
        for replica in replicas:
            replica.start(wait=False)
        for replica in replicas:
            replica.wait_started(0)
        turn_of = dict.fromkeys(chats, 0)
        sent_count = 0

        def send(chat: int) -> None:
            nonlocal sent_count
            update = fake.user_update(chat, conversation(chat)[turn_of[chat]])
            message = update["message"]["message_id"]
            asked[chat].append(message)
            posted_at[message] = time.monotonic()
            turn = sent_count
            while not post(ports[turn % n_replicas], update):
                turn += 1
            sent_count += 1
            turn_of[chat] += 1

        started = time.monotonic()
        for chat in chats:
            send(chat)
        seen, done = 0, 0
        got = dict.fromkeys(chats, 0)
        deadline = time.monotonic() + 600
        while done < len(chats) and time.monotonic() < deadline:
            fresh = fake.sent[seen:]
            seen += len(fresh)
            for reply in fresh:
                chat = reply.chat_id
                if reply.method != "sendMessage" or chat not in got or reply.reply_to is None:
                    continue
                got[chat] += 1
                if got[chat] == len(asked[chat]) < TURNS:
                    send(chat)
                done += got[chat] == TURNS
            time.sleep(0.002)
        seconds = time.monotonic() - started
        time.sleep(2)  # a duplicate would arrive now
        for replica in replicas:
            replica.stop()
    finally:
        for replica in replicas:
            if replica.process and replica.process.poll() is None:
                replica.process.kill()
        fake.stop()
    result = outcome(fake, asked)
    first_reply: dict[int, float] = {}
    for reply in fake.sent:
        if reply.method == "sendMessage" and reply.reply_to is not None:
            first_reply.setdefault(reply.reply_to, reply.at)
    latencies = [(first_reply[m] - posted_at[m]) * 1000 for m in posted_at if m in first_reply]
    return {"replicas": n_replicas, "messages": len(posted_at), "answered": len(latencies),
            "lost": len(result["lost"]), "duplicated": result["duplicates"],
            "out_of_order_chats": len(result["disordered"]), "seconds": round(seconds, 1),
            "messages_per_second": round(len(latencies) / seconds, 1),
            "reply_latency": percentiles(latencies)}


def crash(work: Path, lives: int, seed: int) -> dict:
    from tests.fake_telegram import FakeTelegram
    from tests.telegram_harness import BotProcess, outcome

    turns = ["hello", "Can I pay with PayPal?", "How long are deleted notes kept in the trash?",
             "what's the weather like?", "Can I get a refund on an annual plan?", "thanks!"]
    fake = FakeTelegram().start()
    chats = [5000 + i for i in range(30)]
    asked: dict[int, list[int]] = {chat: [] for chat in chats}
    bot = BotProcess(work, fake, name="crash", db=f"sqlite:///{work / 'crash.sqlite'}")
    rng = random.Random(seed)
    kills = cut_short = 0
    try:
        for life in range(lives):
            for turn in range(3):
                for chat in chats:
                    text = turns[(3 * life + turn) % len(turns)]
                    asked[chat].append(fake.message_of[fake.user_message(chat, text)])
            bot.start()
            time.sleep(rng.uniform(0.2, 1.5))
            bot.kill()
            kills += 1
            cut_short += bool(outcome(fake, asked)["lost"])
        last_start = time.monotonic()
        bot.start()
        fake.wait_for(lambda sent: not outcome(fake, asked)["lost"], timeout=300)
        recovered = time.monotonic() - last_start
        bot.stop()
    finally:
        if bot.process and bot.process.poll() is None:
            bot.process.kill()
        fake.stop()
    result = outcome(fake, asked)
    return {"messages": sum(len(m) for m in asked.values()), "chats": len(chats),
            "kills": kills, "kills_with_messages_waiting": cut_short,
            "lost": len(result["lost"]), "out_of_order_chats": len(result["disordered"]),
            "duplicated": result["duplicates"],
            "seconds_from_last_start_to_last_reply": round(recovered, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--lives", type=int, default=10)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    started = time.perf_counter()

    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from tests.postgres import PostgresServer, server_binaries

    work = Path(tempfile.mkdtemp(prefix="qabot-bench-replicas-"))
    build(REPO / "examples" / "kb", work / "index", SentenceTransformerEmbedder())
    bin_dir = server_binaries()
    if bin_dir is None:
        raise SystemExit("PostgreSQL's server binaries (initdb) are needed: apt-get install "
                         "postgresql")
    server = PostgresServer(bin_dir)
    db_url = server.start()
    chats = list(range(6000, 6000 + args.chats))
    try:
        runs = []
        for n in (1, 2):
            runs.append(load(n, work, db_url, chats))
            print(runs[-1], flush=True)
    finally:
        server.stop()
    crashed = crash(work, args.lives, args.seed)
    print(crashed, flush=True)
    path = write_result("bench_telegram_replicas", {
        "load": {"chats": len(chats), "turns": TURNS, "runs": runs}, "crash": crashed,
    }, started)
    print(f"result {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The web API under load (issue 17): 50 concurrent clients posting to ``/api/v1/chat`` for a
minute against ``qabot web`` (shipped models, examples/kb, SQLite history), and the same
questions through ``ChatEngine.respond`` alone, one at a time, in the same run.

Each client is a thread with its own user id that posts its next message as soon as the
previous reply arrives (closed loop), cycling through a greeting, knowledge questions, a
question the knowledge base cannot answer and thanks. Reported: requests, errors (any status
but 200), replies per second, latency p50/p95/max. The per-client rate limit (60 a minute by
default) is raised for the run, because all 50 clients come from 127.0.0.1 and would share one
limit; everything else is the default.

Run: ``.venv/bin/python benchmarks/bench_web.py [--clients 50 --seconds 60]`` (about 3 minutes).
Result: ``benchmarks/results/bench_web.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import REPO, write_result

sys.path.insert(0, str(REPO))  # the loopback helpers live with the tests

from bench_telegram import conversation, percentiles  # the same turns and figures

from tests.net import free_port, wait_for_port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    started = time.perf_counter()

    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.app import build_engine
    from qabot.config import load_settings

    work = Path(tempfile.mkdtemp(prefix="qabot-bench-web-"))
    build(REPO / "examples" / "kb", work / "index", SentenceTransformerEmbedder())

    # baseline: the engine alone, one message at a time, the same turns
    engine = build_engine(load_settings(env={}, index_dir=work / "index",
                                        database_url=f"sqlite:///{work / 'direct.sqlite'}"),
                          warm=True)
    direct = []
    for client in range(args.clients):
        conv = engine.start("bench", str(client))
        for text in conversation(client):
            t = time.perf_counter()
            engine.respond(conv, text)
            direct.append(time.perf_counter() - t)
    direct_seconds = sum(direct)
    del engine

    port = free_port()
    env = {**os.environ, "QABOT_WEB_RATE_LIMIT": "100000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "qabot.cli", "web", "--port", str(port), "--index",
         str(work / "index"), "--db", f"sqlite:///{work / 'web.sqlite'}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/v1/chat"
    wait_for_port(port, server)

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + args.seconds

    def client(n: int) -> None:
        turns, conversation_id, i = conversation(n), None, 0
        while time.monotonic() < stop_at:
            body = json.dumps({"user": f"bench-{n}", "text": turns[i % len(turns)],
                               "conversation_id": conversation_id}).encode()
            request = urllib.request.Request(url, data=body,
                                             headers={"Content-Type": "application/json"})
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    conversation_id = json.loads(response.read())["conversation_id"]
                with lock:
                    latencies.append(time.perf_counter() - t)
            except (urllib.error.URLError, OSError) as exc:
                with lock:
                    errors.append(str(exc)[:100])
            i += 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0
    server.send_signal(signal.SIGINT)
    server.wait(60)

    result = {
        "clients": args.clients, "seconds": round(seconds, 1),
        "web": {"requests": len(latencies) + len(errors), "errors": len(errors),
                "error_examples": sorted(set(errors))[:3],
                "replies_per_second": round(len(latencies) / seconds, 1),
                "latency": percentiles([x * 1000 for x in latencies])},
        "direct_engine": {"messages": len(direct),
                          "replies_per_second": round(len(direct) / direct_seconds, 1),
                          "respond": percentiles([x * 1000 for x in direct])},
    }
    print(result, flush=True)
    path = write_result("bench_web", result, started)
    print(f"result {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

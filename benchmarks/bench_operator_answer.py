"""From an operator saving an answer to the bot using it (issue 27): ``qabot web`` with the
shipped models over a copy of examples/kb, SQLite history, every setting at its default.

Two paths, five answers each (questions the example knowledge base cannot answer):

- **dashboard**: an operator signed in posts *Answer this* (``POST /admin/answer``): the sheet
  is written, the knowledge base reindexed incrementally in the server with its loaded encoder,
  and the engine reads the new generation. Timed: the post (until its 303), and from the post
  to the first ``/api/v1/chat`` reply of kind faq with the curated answer (a new user asks
  every 50 ms).
- **another process** (a Telegram replica's ``/answer``, or ``qabot faq add``): this process
  appends to the sheet and reindexes with a warm encoder (``add_operator_answers``); the web
  server only sees the index's manifest change (the retriever's manifest watch). Timed: save
  plus reindex, and from the start of the save to the web server's first faq reply.

Baseline, in the same run: rebuilding the whole example knowledge base from scratch with the
same warm encoder (what a reindex without the content-hash sync would cost).

Run: ``.venv/bin/python benchmarks/bench_operator_answer.py`` (about 2 minutes).
Result: ``benchmarks/results/bench_operator_answer.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import _common  # noqa: F401  (sets HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE first)
from _common import REPO, write_result

sys.path.insert(0, str(REPO))  # the loopback helpers live with the tests

from tests.net import listening_socket, port_of, server_fd_args

PASSWORD = "bench-operator-pw"
QUESTIONS = [  # the first ten the bot cannot answer from examples/kb are used (checked below)
    ("Who is the CEO of the company?", "Our CEO is Dana Smith."),
    ("Do you have an office in Berlin?", "Yes: Torstrasse 1, 10119 Berlin."),
    ("Is there a referral program?", "Invite a friend and you both get a month of Pro."),
    ("Can I buy Quillnote mugs or stickers?", "Yes, at shop.example.com."),
    ("Do you have a bug bounty?", "Yes: report security issues to security@example.com."),
    ("Who founded Quillnote?", "Quillnote was founded by Ana and Ben in 2019."),
    ("Do you sell gift cards?", "Not yet; they are planned for next year."),
    ("Is there a Quillnote podcast?", "Yes, Quill Talk, every other Friday."),
    ("Do you sponsor open-source projects?", "We sponsor three open-source editors."),
    ("Can I visit your headquarters?", "Visits are by appointment: email hello@example.com."),
    ("Do you have a YouTube channel?", "Yes: youtube.com/@quillnote."),
    ("Are you hiring?", "See our open positions at jobs.example.com."),
    ("Which charity do you support?", "We give 1% of revenue to Wikimedia."),
    ("Is Quillnote carbon neutral?", "Yes, since 2022, certified yearly."),
    ("Do you have a newsletter?", "Yes, monthly: sign up at example.com/news."),
    ("What is the name of your mascot?", "Our mascot is Quill the owl."),
    ("Do you exhibit at trade fairs?", "We are at CeBIT and Web Summit every year."),
]


class Session:
    """A cookie-keeping HTTP client for the dashboard and the API."""

    def __init__(self, url: str):
        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect())

    def get(self, path: str) -> str:
        with self.opener.open(self.url + path, timeout=120) as response:
            return response.read().decode()

    def post_form(self, path: str, data: dict) -> int:
        body = urllib.parse.urlencode(data).encode()
        try:
            with self.opener.open(urllib.request.Request(self.url + path, data=body),
                                  timeout=120) as response:
                return response.status
        except urllib.error.HTTPError as exc:  # a 303 is raised by _NoRedirect
            return exc.code

    def chat(self, user: str, text: str) -> dict:
        request = urllib.request.Request(
            self.url + "/api/v1/chat", data=json.dumps({"user": user, "text": text}).encode(),
            headers={"Content-Type": "application/json"})
        with self.opener.open(request, timeout=120) as response:
            return json.loads(response.read())["reply"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def until_faq(client: Session, question: str, answer: str, user: str,
              timeout: float = 60.0) -> float:
    """Ask every 50 ms, each time as a new user (a conversation of its own), until the reply
    is the curated answer; returns the monotonic time of the first such reply's arrival."""
    deadline, reply, attempt = time.monotonic() + timeout, {}, 0
    while time.monotonic() < deadline:
        attempt += 1
        reply = client.chat(f"{user}-{attempt}", question)
        if reply["kind"] == "faq" and reply["text"] == answer:
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"error: the bot never gave the saved answer to {question!r}; its last "
                     f"reply: {reply.get('kind')}: {reply.get('text', '')[:200]!r}")


def summary(values: list[float]) -> dict:
    return {"median_s": round(statistics.median(values), 2), "max_s": round(max(values), 2),
            "each_s": [round(v, 2) for v in values]}


def main() -> int:
    started = time.perf_counter()
    from indexer.embedding import SentenceTransformerEmbedder
    from indexer.sync import build
    from qabot.app import sync_index
    from qabot.config import Settings
    from qabot.curation import append_answers, new_answers
    from qabot.frontends.web_auth import hash_password

    work = Path(tempfile.mkdtemp(prefix="qabot-bench-answer-"))
    kb = work / "kb"
    shutil.copytree(REPO / "examples" / "kb", kb)
    embedder = SentenceTransformerEmbedder()
    build(kb, work / "index", embedder)

    rebuilds = []
    for i in range(3):  # baseline: the whole knowledge base embedded again
        t = time.perf_counter()
        build(kb, work / f"rebuilt-{i}", embedder)
        rebuilds.append(time.perf_counter() - t)

    sock = listening_socket()
    url = f"http://127.0.0.1:{port_of(sock)}"
    fd_args, keys = server_fd_args(sock)
    env = {**os.environ, "QABOT_KB_DIR": str(kb), "QABOT_WEB_SECRET_KEY": "bench-secret-key",
           "QABOT_WEB_OPERATORS": f"ann:{hash_password(PASSWORD, iterations=1000)}",
           "QABOT_WEB_RATE_LIMIT": "100000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "qabot.cli", "web", *fd_args, "--index", str(work / "index"),
         "--db", f"sqlite:///{work / 'web.sqlite'}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **keys)
    sock.close()
    try:
        client = Session(url)
        client.get("/")  # served: the models load at the first question
        client.chat("warm-up", "When can annual payments be refunded?")
        client.post_form("/admin/login", {"name": "ann", "password": PASSWORD,
                                          "csrf": csrf(client.get("/admin/login"))})
        token = csrf(client.get("/admin"))

        before = {q: client.chat(f"before-{i}", q)["kind"] for i, (q, _) in enumerate(QUESTIONS)}
        # what an operator answers: questions the bot could not (its unanswered list); one the
        # router hands to a person, or an FAQ answers already, is not one
        fresh = [(q, a) for q, a in QUESTIONS if before[q] in ("fallback", "related")]
        skipped = {q: kind for q, kind in before.items() if q not in dict(fresh)}
        if len(fresh) < 10:
            raise SystemExit(f"error: only {len(fresh)} questions are unanswered: {skipped}")
        dashboard_post, dashboard_use = [], []
        for i, (question, answer) in enumerate(fresh[:5]):
            t = time.monotonic()
            status = client.post_form("/admin/answer", {"csrf": token, "question": question,
                                                        "answer": answer})
            assert status == 303, status
            dashboard_post.append(time.monotonic() - t)
            dashboard_use.append(until_faq(client, question, answer, f"after-{i}") - t)

        settings = Settings(kb_dir=kb, index_dir=work / "index")
        other_save, other_use = [], []
        for i, (question, answer) in enumerate(fresh[5:10]):
            t = time.monotonic()
            append_answers(kb, new_answers(question, answer, author="bench"))
            sync_index(settings, embedder, wait_s=60)
            other_save.append(time.monotonic() - t)
            other_use.append(until_faq(client, question, answer, f"after-b{i}") - t)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "knowledge_base": "examples/kb (copied), the shipped models, default settings",
        "dashboard_answer_this": {"post_until_303": summary(dashboard_post),
                                  "save_to_first_faq_reply": summary(dashboard_use)},
        "another_process_then_manifest_watch": {"save_and_reindex": summary(other_save),
                                                "save_to_first_faq_reply": summary(other_use)},
        "baseline_full_rebuild": summary(rebuilds),
        "questions_skipped_not_unanswered": skipped,
        "goal_s": 5.0,
    }
    print(json.dumps(result, indent=1), flush=True)
    path = write_result("bench_operator_answer", result, started)
    print(f"result {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

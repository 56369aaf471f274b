"""Nothing of the operator loop is lost to a SIGKILL: a reply the dashboard stored survives
`qabot web` killed right after (the widget reads it from the restarted server), and a process
killed while it writes the managed FAQ sheet leaves the previous sheet whole. Real processes,
fake models (``tests.fake_models_cli``)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from indexer.sync import build
from qabot.curation import SHEET_NAME, append_answers, list_answers, new_answers
from qabot.frontends.web_auth import hash_password
from tests.conftest import ROOT
from tests.fakes import KB, HashingEmbedder
from tests.net import listening_socket, port_of, server_fd_args
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # subprocess kills

PASSWORD = "crash-pw"


def fake_env(**extra: str) -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                          if p), **extra}


class WebProcess:
    """`qabot web` with fake models over ``tmp_path``'s index and history, on a new socket at
    each start."""

    def __init__(self, tmp_path: Path):
        kb = tmp_path / "kb"
        kb.mkdir()
        for name, text in KB.items():
            (kb / name).write_text(text)
        build(kb, tmp_path / "index", HashingEmbedder())
        self.args = ["--index", str(tmp_path / "index"), "--db",
                     f"sqlite:///{tmp_path / 'history.sqlite'}"]
        self.env = fake_env(QABOT_WEB_OPERATORS=f"ann:{hash_password(PASSWORD, iterations=1000)}",
                            QABOT_WEB_SECRET_KEY="crash-test-secret", QABOT_KB_DIR=str(kb))
        self.log = tmp_path / "web.log"
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> str:
        sock = listening_socket()
        self.url = f"http://127.0.0.1:{port_of(sock)}"
        fd_args, keys = server_fd_args(sock)
        try:
            with self.log.open("a") as out:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "tests.fake_models_cli", "web", *fd_args, *self.args],
                    env=self.env, stdout=out, stderr=subprocess.STDOUT, **keys)
        finally:
            sock.close()

        def up() -> bool:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            return httpx.get(self.url + "/api/v1/openapi.json", timeout=30).status_code == 200

        wait_until(up, 60, interval=0.1, message="qabot web did not start")
        return self.url

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def web_process(tmp_path):
    server = WebProcess(tmp_path)
    yield server
    server.stop()


def signed_in(url: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, timeout=30)
    page = client.get("/admin/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post("/admin/login", data={"name": "ann", "password": PASSWORD,
                                             "csrf": token}).status_code == 303
    return client, re.search(r'name="csrf" value="([^"]+)"', client.get("/admin").text
                             ).group(1)


def test_a_reply_stored_just_before_a_sigkill_reaches_the_widget_after_the_restart(
        web_process):
    url = web_process.start()
    user = httpx.Client(base_url=url, timeout=30)
    conversation = user.post("/api/v1/chat", json={"user": "w-1", "text": "hello"}).json()[
        "conversation_id"]
    user.post("/api/v1/handoff", json={"user": "w-1", "conversation_id": conversation})
    operator, token = signed_in(url)
    sent = []
    for round_ in range(3):  # each reply stored, and the server killed at once
        text = f"reply {round_}: we are on it"
        answer = operator.post(f"/admin/conversations/{conversation}/reply",
                               data={"csrf": token, "text": text, "seen": "0"})
        assert answer.status_code == 303 and "Sent." in answer.headers["location"]
        web_process.kill()
        sent.append(text)
        url = web_process.start()
        operator, token = signed_in(url)
    user = httpx.Client(base_url=url, timeout=30)
    got = user.get(f"/api/v1/conversations/{conversation}/messages",
                   params={"user": "w-1"}).json()
    assert [m["text"] for m in got["messages"] if m["from"] == "operator"] == sent
    assert got["handed_off"] is True


WRITER = """
import sys
from pathlib import Path
from qabot.curation import append_answers, list_answers, new_answers

kb = Path(sys.argv[1])
i = len(list_answers(kb)) // 51 if (kb / "operator-answers.csv").exists() else 0
while True:  # answer i in 51 phrasings of 3,900 characters each: a growing, slow write
    append_answers(kb, new_answers(f"question {i}?", f"answer {i} " + "x" * 3900,
                                   also=[f"question {i} v{k}?" for k in range(50)]))
    i += 1
"""


def test_a_kill_during_the_sheets_write_leaves_the_previous_sheet_whole(tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    rng, seen = random.Random(27), 0
    for _ in range(6):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(kb)], env=fake_env())
        start = time.monotonic()
        wait_until(lambda w=writer: (kb / SHEET_NAME).exists() or w.poll() is not None, 30)
        time.sleep(rng.uniform(0.05, 0.6))
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
        rows = list_answers(kb)  # parses: never half a file, never half an answer
        assert len(rows) % 51 == 0 and len(rows) >= seen
        for i in range(len(rows) // 51):
            group = rows[51 * i:51 * (i + 1)]
            assert [r.question for r in group] == [f"question {i}?", *(
                f"question {i} v{k}?" for k in range(50))]
            assert {r.answer for r in group} == {f"answer {i} " + "x" * 3900}
        seen = len(rows)
        assert time.monotonic() - start < 30
    assert seen > 0
    leftovers = [p.name for p in kb.iterdir() if p.name not in (SHEET_NAME,
                                                                  f".{SHEET_NAME}.lock")]
    assert all(name.startswith(".") for name in leftovers), leftovers  # temporary files only
    append_answers(kb, new_answers("last?", "last."))  # the next save clears them
    assert sorted(p.name for p in kb.iterdir()) == sorted([f".{SHEET_NAME}.lock", SHEET_NAME])

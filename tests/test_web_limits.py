"""The web server's limits on a real socket: ``qabot web``'s uvicorn (``web.server_config``, as
``serve`` runs it) in a thread, on a listening socket handed to it, spoken to byte by byte as a
client that lies or stalls would; and ``qabot web`` as a process with the fake models.

What TestClient cannot show: a body framed as chunked whatever its Content-Length says, a 413
that comes before the rest of the body is sent and closes the connection, a stalled body, an
idle keep-alive connection, and which address a request counts against."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import uvicorn

from qabot.frontends import web
from tests.net import listening_socket, port_of, server_fd_args
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent


def chat_body(size: int) -> bytes:
    """A valid chat request of ``size`` bytes (JSON padded with spaces)."""
    text = json.dumps({"user": "u1", "text": "thanks"})[:-1]
    return (text + " " * (size - len(text) - 1) + "}").encode()


def head(request_line: str, *headers: str) -> bytes:
    lines = [request_line + " HTTP/1.1", "Host: x", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chat(body: bytes, *headers: str) -> bytes:
    """A whole POST /api/v1/chat with ``body`` and its Content-Length."""
    return head("POST /api/v1/chat", f"Content-Length: {len(body)}", *headers) + body


def response(sock: socket.socket, within: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """The next response on ``sock``: status, headers (lower-case names), body."""
    sock.settimeout(within)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"the server closed the connection first: {data!r}")
            data += chunk
        top, _, body = data.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:])}
        while len(body) < int(headers.get("content-length", 0)):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except TimeoutError:
        raise AssertionError(f"no response within {within} s (got {data[:200]!r})") from None
    return int(lines[0].split()[1]), headers, body


def closed(sock: socket.socket, within: float) -> bool:
    """Whether the server closes the connection within ``within`` seconds (and sends nothing
    more meanwhile)."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@contextmanager
def serving(engine, **settings):
    """The app over ``engine`` served by uvicorn as ``qabot web`` configures it, in a thread;
    yields the port."""
    engine.settings = replace(engine.settings, **settings)
    app = web.build_app(engine, engine.settings)
    sock = listening_socket()
    server = uvicorn.Server(web.server_config(app, engine.settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), 30)
        assert server.started, "uvicorn did not start"
        yield port_of(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(10)
        sock.close()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


@pytest.fixture
def engine(make_engine):
    return make_engine()


def test_a_chunked_body_is_counted_whatever_its_content_length_says(engine):
    with serving(engine, web_max_body_bytes=1024) as port:
        with connect(port) as s:  # the probe's lie: Content-Length 100, then a chunked body
            body = chat_body(1_000_000)
            s.sendall(head("POST /api/v1/chat", "Content-Length: 100",
                           "Transfer-Encoding: chunked") + b"%x\r\n" % len(body) + body[:4000])
            status, headers, payload = response(s)  # before the rest of the body is sent
            assert status == 413, payload
            assert "1024" in json.loads(payload)["error"]
            assert headers.get("connection") == "close" and closed(s, within=5)
        with connect(port) as s:  # a chunked body within the limit is read and answered
            body = chat_body(600)
            s.sendall(head("POST /api/v1/chat", "Transfer-Encoding: chunked")
                      + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
            status, _, payload = response(s)
            assert status == 200, payload


def test_a_declared_length_over_the_limit_is_refused_before_the_body_on_any_route(engine):
    with serving(engine, web_max_body_bytes=1024) as port:
        for route in ("/admin/logout", "/admin/release/1", "/admin/rebuild", "/api/v1/chat",
                      "/no/such/route"):
            with connect(port) as s:  # 30 MB announced, not one byte of it sent
                s.sendall(head(f"POST {route}", "Content-Length: 30000000"))
                status, headers, payload = response(s)
                assert (status, headers.get("connection")) == (413, "close"), (route, payload)
                assert "error" in json.loads(payload) and closed(s, within=5)


def test_a_stalled_body_gets_408_and_the_connection_closes(engine):
    with serving(engine, web_body_timeout_seconds=1) as port, connect(port) as s:
        started = time.monotonic()
        s.sendall(head("POST /api/v1/chat", "Content-Length: 300") + chat_body(300)[:40])
        status, headers, payload = response(s, within=8)
        assert status == 408 and "error" in json.loads(payload), payload
        assert 0.9 < time.monotonic() - started < 5
        assert headers.get("connection") == "close" and closed(s, within=5)


def test_idle_connections_close_and_an_unread_body_ends_its_connection(engine):
    with serving(engine, web_keep_alive_seconds=1) as port:
        with connect(port) as s:  # kept alive between requests, then closed when idle
            for _ in range(2):
                s.sendall(chat(chat_body(200)))
                assert response(s)[0] == 200
            started = time.monotonic()
            assert closed(s, within=4) and time.monotonic() - started < 3
        with connect(port) as s:  # nothing sent at all
            assert closed(s, within=4)
        with connect(port) as s:  # a request's headers a byte at a time (slowloris)
            started = time.monotonic()
            try:
                for byte in head("POST /api/v1/chat", "X-Padding: " + "x" * 100):
                    s.sendall(bytes([byte]))
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert closed(s, within=2) and time.monotonic() - started < 4
        with connect(port) as s:  # the page needs no body: the connection closes after it
            s.sendall(head("GET /", "Content-Length: 10000") + b"x" * 100)
            status, headers, _ = response(s)
            assert status == 200 and headers.get("connection") == "close"
            try:  # a client still sending the body finds the connection gone, not kept open
                for _ in range(40):
                    s.sendall(b"x" * 1000)
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert closed(s, within=2)


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(engine):
    def statuses(port: int, forwarded_for: list[str]) -> list[int]:
        out = []
        for address in forwarded_for:
            with connect(port) as s:
                s.sendall(chat(chat_body(100), f"X-Forwarded-For: {address}"))
                out.append(response(s)[0])
        return out

    spoofed = [f"203.0.113.{i}" for i in range(5)]
    with serving(engine, web_rate_limit=3) as port:  # no proxy: the peer is the client
        assert statuses(port, spoofed) == [200, 200, 200, 429, 429]
    with serving(engine, web_rate_limit=3, web_trusted_proxies=("127.0.0.1",)) as port:
        assert statuses(port, spoofed) == [200] * 5  # five clients behind the proxy
        assert statuses(port, ["198.51.100.7"] * 4) == [200, 200, 200, 429]


def test_qabot_web_takes_its_limits_from_the_settings(tmp_path, kb_index):
    """``qabot web`` as a process (the fake models): the peer is the client whatever
    X-Forwarded-For says, and a chunked body is counted."""
    sock = listening_socket()
    port, (fd_args, keys) = port_of(sock), server_fd_args(sock)
    env = {**os.environ, "QABOT_WEB_RATE_LIMIT": "4", "QABOT_WEB_MAX_BODY_BYTES": "1024",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                         if p)}
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_models_cli", "web", *fd_args, "--index",
             str(kb_index), "--db", f"sqlite:///{tmp_path / 'h.sqlite'}"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **keys)
    finally:
        sock.close()
    try:
        with connect(port) as s:  # waits in the backlog until the server is up
            body = chat_body(100_000)
            s.sendall(head("POST /api/v1/chat", "Content-Length: 100",
                           "Transfer-Encoding: chunked") + b"%x\r\n" % len(body) + body[:4000])
            status, headers, _ = response(s, within=60)
            assert (status, headers.get("connection")) == (413, "close") and closed(s, 5)
        codes = []
        for i in range(4):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/chat", data=chat_body(100),
                headers={"Content-Type": "application/json",
                         "X-Forwarded-For": f"203.0.113.{i}"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    codes.append(answer.status)
            except urllib.error.HTTPError as error:
                codes.append(error.code)
        assert codes == [200, 200, 200, 429]  # the 413 counted too: 4 a minute
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in output, output


def test_the_body_limit_reads_nothing_past_the_limit_and_drops_the_apps_late_answer():
    """``BodyLimit`` alone, between a fake server and a fake app."""
    from qabot.frontends.body_limit import CLOSE, BodyLimit

    def exchange(headers: list[tuple[bytes, bytes]]):
        received, seen, sent = [], [], []

        async def receive():  # an endless body in 300-byte pieces
            received.append(300)
            return {"type": "http.request", "body": b"a" * 300, "more_body": True}

        async def send(message):
            sent.append(message)

        async def app(scope, receive, send):
            while (message := await receive())["type"] == "http.request":
                seen.append(len(message["body"]))
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"too late"})
            raise RuntimeError("an app that fails once the client has gone")

        asyncio.run(BodyLimit(app, max_bytes=1000, timeout=5)(
            {"type": "http", "headers": headers}, receive, send))
        assert [m.get("status") for m in sent] == [413, None]  # the app's answer dropped
        assert CLOSE in sent[0]["headers"] and b"1000 bytes" in sent[1]["body"]
        return len(received), seen

    assert exchange([(b"transfer-encoding", b"chunked")]) == (4, [300, 300, 300])
    assert exchange([(b"content-length", b"1001")]) == (0, [])  # the app never ran


def test_the_settings_map_to_uvicorns_options():
    from qabot.config import load_settings
    from qabot.errors import InvalidSettingError

    settings = load_settings(env={})
    config = web.server_config(None, settings)
    assert (config.proxy_headers, config.timeout_keep_alive) == (False, 5)
    settings = load_settings(env={"QABOT_WEB_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16,::1",
                                  "QABOT_WEB_KEEP_ALIVE_SECONDS": "75"})
    config = web.server_config(None, settings)
    assert config.proxy_headers and config.timeout_keep_alive == 75
    assert config.forwarded_allow_ips == ["10.0.0.5", "10.1.0.0/16", "::1"]
    for bad in ("proxy.internal", "10.0.0.5/8", "10.0.0.300"):  # uvicorn would match none
        with pytest.raises(InvalidSettingError, match="QABOT_WEB_TRUSTED_PROXIES"):
            load_settings(env={"QABOT_WEB_TRUSTED_PROXIES": bad})

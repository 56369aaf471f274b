"""Loopback helpers the process tests and benchmarks share: a listening socket to hand a server,
a free port for a server that binds itself, waiting for a server to listen, and posting an
update to a webhook as Telegram does.

Servers of ours (``qabot web``, the Telegram webhook) take an already bound, listening socket:
in process (the webhook server's ``unix=sock``) or, in a subprocess, as ``--fd N`` with
``pass_fds=[N]`` (``listening_socket`` and ``server_fd_args``). The port is never released
between being chosen and served, so no other process can take it meanwhile. Only a server
that binds its port itself (PostgreSQL) is given a number (``free_port``), and must be started
again on another one when that was taken first (``tests.postgres``)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request


def listening_socket(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to a free port of ``host`` (``port_of``), listening, non-blocking
    (as asyncio and tornado accept on it): hand it to the server that is to serve there."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def port_of(sock: socket.socket) -> int:
    return sock.getsockname()[1]


def server_fd_args(sock: socket.socket) -> tuple[list[str], dict]:
    """The hidden ``--fd`` option for ``qabot web`` / ``qabot telegram`` and the Popen keyword
    argument that passes the socket on: ``args, keys = server_fd_args(sock);
    subprocess.Popen([..., *args], **keys)``; then close the test's copy of the socket, so
    that the port stops listening when the server process ends."""
    return ["--fd", str(sock.fileno())], {"pass_fds": (sock.fileno(),)}


def free_port() -> int:
    """A port nothing listens on now, for a server that binds it itself (PostgreSQL): another
    process may take it before the server does, so be ready to start again on another one.
    Servers of ours take a ``listening_socket`` instead."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None,
                  timeout: float = 120.0) -> None:
    """Until something listens on 127.0.0.1:``port`` (and ``process`` is still alive): for a
    server that binds itself. A ``listening_socket`` accepts connections from the start (they
    wait in its backlog), so for a server handed one, wait for its first answer instead."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process is not None and process.poll() is not None:
                raise AssertionError(f"the server exited with {process.returncode}") from None
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on port {port} after {timeout} s") from None
            time.sleep(0.3)


def post_update(port: int, update: dict, secret: str) -> bool:
    """Post an update to a webhook replica as Telegram does; True when it took it (200)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telegram", data=json.dumps(update).encode(),
        headers={"Content-Type": "application/json",
                 "X-Telegram-Bot-Api-Secret-Token": secret})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False

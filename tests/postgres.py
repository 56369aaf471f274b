"""A throwaway PostgreSQL server on 127.0.0.1 for the history tests (CI installs the Debian
packages in .ci/run; locally the tests skip with the reason when no server binaries exist)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.net import free_port


def server_binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


class PostgresServer:
    """initdb + pg_ctl start in a temp folder; as the 'postgres' user when run as root.

    PostgreSQL binds its port itself: it is started on a ``free_port``, and on another one when
    some other process took that port first ("Address already in use" in its log)."""

    ATTEMPTS = 5

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.data = Path(tempfile.mkdtemp(prefix="qabot-pg-"))
        self.port: int | None = None
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")  # KeyError: no such user
            os.chown(self.data, user.pw_uid, user.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data / "db"), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")
        log = self.data / "log"
        attempts = self.ATTEMPTS
        while True:
            self.port = free_port()
            logged = log.stat().st_size if log.exists() else 0
            try:
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data / "db"), "-w",
                          "-l", str(log), "-o",
                          f"-p {self.port} -h 127.0.0.1 -k {self.data} -F", "start")
                return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
            except subprocess.CalledProcessError:
                attempts -= 1
                if not attempts or not self._port_was_taken(log, logged):
                    raise

    @staticmethod
    def _port_was_taken(log: Path, since: int) -> bool:
        """Whether the server's log after byte ``since`` says its port was in use."""
        try:
            with log.open("rb") as f:
                f.seek(since)
                logged = f.read()
        except OSError:
            return False
        return b"Address already in use" in logged or b"could not bind" in logged

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data / "db"), "-m",
                      "immediate", "stop")
        finally:
            shutil.rmtree(self.data, ignore_errors=True)

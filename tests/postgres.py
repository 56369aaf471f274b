"""A throwaway PostgreSQL server on 127.0.0.1 for the history tests (CI installs the Debian
packages in .ci/run; locally the tests skip with the reason when no server binaries exist)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def server_binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """initdb + pg_ctl start in a temp folder; as the 'postgres' user when run as root."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.data = Path(tempfile.mkdtemp(prefix="qabot-pg-"))
        self.port = _free_port()
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
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data / "db"), "-w", "-l",
                  str(self.data / "log"), "-o",
                  f"-p {self.port} -h 127.0.0.1 -k {self.data} -F", "start")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data / "db"), "-m",
                      "immediate", "stop")
        finally:
            shutil.rmtree(self.data, ignore_errors=True)

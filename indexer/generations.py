"""Index generations and the writers' lock: generation folder names (``gen-000007``), the
file record a generation stores per source, timestamps, and the exclusive ``.lock``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from indexer.errors import IndexLockedError

LOCK = ".lock"
_GENERATION = re.compile(r"^gen-(\d{6,})$")


@dataclass(frozen=True)
class FileRecord:
    source: str
    sha256: str
    size: int


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def generation_name(number: int) -> str:
    return f"gen-{number:06d}"


def generation_number(name: str) -> int:
    match = _GENERATION.match(name)
    return int(match.group(1)) if match else -1


class IndexLock:
    """An exclusive, non-blocking, crash-safe lock (flock: released when the process dies)."""

    def __init__(self, index_dir: Path):
        from filelock import FileLock

        self.path = Path(index_dir) / LOCK
        self._lock = FileLock(str(self.path), timeout=0)

    def acquire(self) -> None:
        from filelock import Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise IndexLockedError(
                f"index at {self.path.parent} is locked: another qabot-index build/remove "
                "is writing it; try again when it has finished"
            ) from None

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> IndexLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

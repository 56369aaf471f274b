"""Durable file-system steps: fsync of files and folders, removal of folders."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once: written to a hidden temporary file in the same
    folder (ignored by the indexer), flushed and fsynced, renamed over ``path`` with
    ``os.replace``, then the folder fsynced. A crash leaves the old file or the new one, never a
    part; on an error the temporary file is removed and ``path`` is untouched. The file keeps
    the mode of the one it replaces (a new one gets 0644)."""
    path = Path(path)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_tree(path: Path) -> None:
    """fsync every file and folder under ``path``, and ``path`` itself."""
    for child in path.iterdir():
        if child.is_dir():
            fsync_tree(child)
        elif child.is_file():
            fsync_file(child)
    fsync_dir(path)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

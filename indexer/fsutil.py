"""Durable file-system steps: fsync of files and folders, removal of folders."""

from __future__ import annotations

import os
import shutil
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

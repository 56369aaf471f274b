"""Waiting in tests: poll for a condition with a generous deadline, never sleep a fixed time.

A fixed sleep before an assertion is either too short on a loaded machine (a flaky failure)
or, before a negative check ("X did not happen"), a check that passes whenever X comes late.
So: wait with ``wait_until`` for what must happen; and before asserting that something did
not happen, wait for a later event that could only come after it would have (the next reply
in the same chat, every update marked done in the inbox), then assert its absence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, *,
               interval: float = 0.02, message: str | Callable[[], str] = "") -> T:
    """Call ``predicate`` until it returns something true, and return that; an
    AssertionError with ``message`` (a string, or a function giving one: say what was seen)
    when ``timeout`` seconds pass first (the predicate's last try is at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            text = message() if callable(message) else message
            raise AssertionError(f"not within {timeout} s: {text or predicate}")
        time.sleep(min(interval, left))

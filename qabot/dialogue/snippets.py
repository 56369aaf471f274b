"""Pure text helpers for answers: the sentence around a span, and highlighting."""

from __future__ import annotations

import re

# a sentence ends at . ! ? (followed by space or end), at a blank line, or at a line break
# that starts a list item, heading, table row, quote or macro; a single line break inside a
# paragraph (hard-wrapped Markdown) is only a space
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9*])"
                       r"|\n[ \t]*\n\s*"
                       r"|\n(?=[ \t]*(?:[-*+][ \t]|\d+[.)][ \t]|#|\||>|\{))")


def sentence_around(text: str, start: int, end: int, max_chars: int = 400) -> tuple[int, int]:
    """Character offsets of the sentence(s) of ``text`` that contain ``text[start:end]``,
    trimmed of surrounding whitespace and list/heading markup, at most ``max_chars`` long
    (then a window centred on the span)."""
    start, end = max(0, start), min(len(text), max(start, end))
    left, right = 0, len(text)
    for m in _BOUNDARY.finditer(text):
        if m.end() <= start:
            left = m.end()
        elif m.start() >= end:
            right = m.start()
            break
    while left < start and text[left] in " \t-*#>|1234567890.":
        if text[left].isdigit() and not re.match(r"\d+[.)]\s", text[left:]):
            break
        left += 1
    while right > end and text[right - 1].isspace():
        right -= 1
    if right - left > max_chars:
        half = max(0, (max_chars - (end - start)) // 2)
        left, right = max(left, start - half), min(right, end + half)
    return left, right

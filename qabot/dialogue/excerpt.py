"""The excerpt a ``related`` reply shows: the sentence(s) of a passage around a candidate
answer, grown with neighbouring sentences up to a character budget, never a whole section.

Pure functions over a passage's text and character offsets. ``excerpt_around`` starts from the
sentence that holds ``text[start:end]`` (``snippets.sentence_around``) and adds whole sentences,
the next one first and then the previous one, while the excerpt stays within ``max_chars``: a
help-centre answer often sits in the sentence after the one that repeats the question's words.
"""

from __future__ import annotations

import re

from qabot.dialogue.snippets import _BOUNDARY, sentence_around

EXCERPT_CHARS = 400  # the longest excerpt a related reply shows
_MARKUP = " \t-*#>|"


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character offsets of ``text``'s sentences (the boundaries ``sentence_around`` uses),
    each stripped of surrounding whitespace; empty ones dropped."""
    spans, left = [], 0
    for m in _BOUNDARY.finditer(text):
        spans.append((left, m.start()))
        left = m.end()
    spans.append((left, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def excerpt_around(text: str, start: int, end: int, max_chars: int = EXCERPT_CHARS
                   ) -> tuple[int, int]:
    """Offsets ``(left, right)`` of at most ``max_chars`` characters of ``text`` that hold
    ``text[start:end]``: its sentence, then neighbouring sentences while they fit."""
    left, right = sentence_around(text, start, end, max_chars)
    spans = sentence_spans(text)
    after = [s for s in spans if s[0] >= right]
    before = [s for s in reversed(spans) if s[1] <= left]
    grown = True
    while grown:
        grown = False
        for side in (after, before):
            if not side:
                continue
            a, b = side[0]
            new_left, new_right = min(left, a), max(right, b)
            if new_right - new_left <= max_chars:
                left, right = new_left, new_right
                side.pop(0)
                grown = True
            else:
                side.clear()  # a sentence that does not fit ends growth on that side
    while left < start and text[left] in _MARKUP:
        left += 1
    return left, right


def bounded_steps(text: str, max_chars: int = EXCERPT_CHARS) -> str:
    """A list of steps cut to at most ``max_chars`` characters at an item or line boundary
    (with "…" when cut)."""
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1]
    for boundary in (r"\n[ \t]*\d{1,2}[.)][ \t]", r"\n"):
        found = [m.start() for m in re.finditer(boundary, cut)]
        if found and found[-1] > max_chars // 3:
            return cut[: found[-1]].rstrip() + "\n…"
    space = cut.rfind(" ")
    return cut[: space if space > max_chars // 3 else len(cut)].rstrip() + "…"

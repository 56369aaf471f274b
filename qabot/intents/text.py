"""Message text as the intent models see it.

The encoder's WordPiece vocabulary has no emoji: "👍", "👎" and "😡" all become the same
``[UNK]`` token, so an emoji-only message would carry no signal. Emoji and other pictographic
symbols are spelled out with their Unicode names ("👍" -> "thumbs up sign"), which the encoder
does understand. Training and prediction both go through ``prepare``.
"""

from __future__ import annotations

import re
import unicodedata

_JOINERS = {"\u200d", "\ufe0e", "\ufe0f"}  # zero-width joiner, variation selectors
_SPACES = re.compile(r"\s+")


def _is_pictograph(ch: str) -> bool:
    return unicodedata.category(ch) == "So" or 0x1F000 <= ord(ch) <= 0x1FAFF


def prepare(text: str) -> str:
    """``text`` with pictographs spelled out and whitespace collapsed."""
    if text.isascii():
        return _SPACES.sub(" ", text).strip()
    parts = []
    for ch in text:
        if ch in _JOINERS or 0x1F3FB <= ord(ch) <= 0x1F3FF:  # skin-tone modifiers
            continue
        if _is_pictograph(ch):
            name = unicodedata.name(ch, "")
            parts.append(f" {name.lower()} " if name else " ")
        else:
            parts.append(ch)
    return _SPACES.sub(" ", "".join(parts)).strip()

"""Pure helpers for how-to questions: a numbered list of steps is a better answer than a span.

"How do I turn on 2FA?" is answered by the steps under "Turn on 2FA", not by a phrase out of
them; an extractive reader picks a fragment, so the engine shows the whole list instead.
"""

from __future__ import annotations

import re

_HOW_TO = re.compile(
    r"^\s*(?:so |ok |and |but )?(?:how (?:do|can|should|would|could|to|does one) |how to |"
    r"what are the steps |what do i do to |steps to |walk me through |where do i (?:go|turn|"
    r"change|set|find) )", re.IGNORECASE)
_ITEM = re.compile(r"^[ \t]*(\d{1,2})[.)][ \t]+\S", re.MULTILINE)


def is_how_to(question: str) -> bool:
    """A question that asks for a procedure: "how do I ...", "how to ...", "steps to ..."."""
    return bool(_HOW_TO.match(question))


def steps_in(text: str, near: int | None = None) -> tuple[int, int] | None:
    """Character offsets of a numbered list of at least two steps in ``text`` (from "1." to
    the end of the last item), preferring the list that contains offset ``near``."""
    lists: list[tuple[int, int]] = []
    items = list(_ITEM.finditer(text))
    i = 0
    while i < len(items):
        if items[i].group(1) != "1":
            i += 1
            continue
        j = i
        while j + 1 < len(items) and int(items[j + 1].group(1)) == int(items[j].group(1)) + 1:
            j += 1
        if j > i:
            end = text.find("\n", items[j].start())
            lists.append((items[i].start(), len(text) if end < 0 else end))
        i = j + 1
    if not lists:
        return None
    if near is not None:
        for start, end in lists:
            if start <= near < end:
                return start, end
    return lists[0]

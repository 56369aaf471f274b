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
    the end of the last item), preferring the list that contains offset ``near``. Items
    count up ("1.", "2.", ...) or, as Markdown lets writers number them, are all "1."."""
    lists: list[tuple[int, int]] = []
    items = list(_ITEM.finditer(text))
    i = 0
    while i < len(items):
        if items[i].group(1) != "1":
            i += 1
            continue
        j = i
        while (j + 1 < len(items) and _next_step(items[i], items[j], items[j + 1])
               and _adjacent(text, items[j].start(), items[j + 1].start())):
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


def _next_step(first, last, item) -> bool:
    """``item`` continues the list that began at ``first`` and has reached ``last``."""
    if int(item.group(1)) == int(last.group(1)) + 1:
        return True  # 1. 2. 3.
    return first.group(1) == last.group(1) == item.group(1) == "1"  # 1. 1. 1. (Markdown)


def _adjacent(text: str, start: int, next_start: int) -> bool:
    """Nothing but the item's own (indented) lines and blank lines lies between two items."""
    lines = text[start:next_start].split("\n")[1:]
    return all(not line.strip() or line[:1] in " \t" for line in lines)

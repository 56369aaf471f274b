"""Help-centre Markdown as a reader sees it: the text of an excerpt without its markup.

Knowledge bases are written in Markdown dialects: links ``[text](url)`` and wikilinks
``[[Page|text]]``, inline HTML (``<i class="fa fa-pencil"></i>``, ``<kbd>D</kbd>``), template
macros on lines of their own (``{start_tabs}``, ``{tab|desktop}``), admonitions (``!!! warn ""``)
and callouts (``> [!note]``), emphasis and code marks. Shown verbatim, they waste an excerpt's
characters and read as noise. ``plain(text)`` drops them and keeps, for every character it
keeps, its offset in ``text``, so that a span found in the original (the reader's answer) can
be found in the plain text, and back.

Pure; nothing here knows one help centre from another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (pattern, the group to keep or None to drop the whole match), applied in this order
_RULES: tuple[tuple[re.Pattern, int | None], ...] = (
    (re.compile(r"!\[\[[^\]\n]*\]\]"), None),  # Obsidian embed ![[file]]
    (re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)"), None),  # image ![alt](src)
    (re.compile(r"\[\[[^\]|\n]*\|([^\]\n]*)\]\]"), 1),  # [[Page#Heading|text]] -> text
    (re.compile(r"\[\[([^\]\n]*)\]\]"), 1),  # [[Page]] -> Page
    (re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)"), 1),  # [text](url) -> text
    (re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]"), 1),  # [text][ref] -> text
    (re.compile(r"\((?:\s*</?[A-Za-z][^<>\n]{0,300}>)+\s*\)"), None),  # (<i class=icon></i>)
    (re.compile(r"</?[A-Za-z][^<>\n]{0,300}>"), None),  # inline HTML tags (their text stays)
    (re.compile(r"^[ \t]*\{[^{}\n]*\}[ \t]*$", re.M), None),  # a macro alone on its line
    (re.compile(r"^[ \t]*!!!.*$", re.M), None),  # admonition header: !!! warn ""
    (re.compile(r"^[ \t]*\[[^\]\n]+\]:[ \t]*\S.*$", re.M), None),  # link reference definition
    (re.compile(r"^[ \t]*>[ \t]*\[![^\]\n]*\][+-]?[ \t]*", re.M), None),  # callout > [!note]
    (re.compile(r"^[ \t]*>[ \t]?", re.M), None),  # quote marker
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), 1),  # **bold**
    (re.compile(r"(?<![\w_])__(?=\S)(.+?)(?<=\S)__(?![\w_])"), 1),  # __bold__
    (re.compile(r"`([^`\n]+)`"), 1),  # `code`
    (re.compile(r"^[ \t]+", re.M), None),  # indentation
    (re.compile(r"(?<=\S)[ \t]{2,}"), None),  # runs of spaces inside a line (one is kept below)
)


@dataclass(frozen=True)
class PlainText:
    """``text`` without markup; ``origin[i]`` is the offset in the original of ``text[i]``."""

    text: str
    origin: tuple[int, ...]

    def to_plain(self, start: int, end: int) -> tuple[int, int]:
        """The plain-text offsets covering the original span ``[start, end)``."""
        import bisect

        a = bisect.bisect_left(self.origin, start)
        b = bisect.bisect_left(self.origin, end)
        return a, max(a, b)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        if not self.origin or start >= end:
            at = self.origin[start] if start < len(self.origin) else (
                self.origin[-1] + 1 if self.origin else 0)
            return at, at
        return self.origin[start], self.origin[end - 1] + 1


def plain(text: str) -> PlainText:
    """``text`` with its markup dropped (see the module docstring)."""
    keep = bytearray(b"\x01") * len(text)
    for pattern, group in _RULES:
        for m in pattern.finditer(text):
            a, b = m.span()
            if group is None:
                keep[a:b] = b"\x00" * (b - a)
                continue
            ga, gb = m.span(group)
            keep[a:ga] = b"\x00" * (ga - a)
            keep[gb:b] = b"\x00" * (b - gb)
    chars: list[str] = []
    origin: list[int] = []
    newlines = 0
    for i, ch in enumerate(text):
        if not keep[i]:
            continue
        if ch == "\n":
            newlines += 1
            if newlines > 2:
                continue
            while chars and chars[-1] in " \t":  # no trailing spaces before a line break
                chars.pop()
                origin.pop()
        elif ch in " \t":
            if not chars or chars[-1] in " \t\n":
                continue
            ch = " "
        else:
            newlines = 0
        chars.append(ch)
        origin.append(i)
    while chars and chars[-1].isspace():
        chars.pop()
        origin.pop()
    lead = 0
    while lead < len(chars) and chars[lead].isspace():
        lead += 1
    return PlainText("".join(chars[lead:]), tuple(origin[lead:]))

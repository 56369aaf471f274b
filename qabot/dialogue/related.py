"""The ``related`` reply: not an answer, the part of the help centre that looks related.

When the bot is not sure enough to assert an answer, but the knowledge base holds a relevant
passage, the user gets (``related_reply``):

    I'm not sure this answers it, but this part of the help centre looks related:

    “<an excerpt of at most 400 characters: the sentence(s) around the best candidate, or the
    steps of its section for a how-to question, without Markdown noise>”

    Source: <where it is> — <link>
    See also: <title> — <link>; <title> — <link>

    If this doesn't help, I can connect you with a person (reply yes, or type /human).

The reply is at most ``REPLY_CHARS`` characters: the "see also" articles go first, then the
links, when a long excerpt leaves no room for them. Pure functions over retrieved hits and a
reader answer; only http(s) URLs are ever given (``links.public_url``).
"""

from __future__ import annotations

from collections.abc import Sequence

from qabot.dialogue.excerpt import EXCERPT_CHARS, bounded_steps, excerpt_around
from qabot.dialogue.links import is_web_url, public_url
from qabot.dialogue.plain import plain
from qabot.dialogue.replies import Source
from qabot.dialogue.steps import steps_in

LEAD = "I'm not sure this answers it, but this part of the help centre looks related:"
OFFER = "If this doesn't help, I can connect you with a person (reply yes, or type /human)."
REPLY_CHARS = 700  # a reply longer than this resolves nothing: it dumps a section
MORE_ARTICLES = 2


def url_of(hit, base_url: str | None) -> str | None:
    """The hit's public URL, or None (FAQ passages and unlinked files without a base)."""
    source = getattr(hit, "source", "") or ""
    if not source or getattr(hit, "faq", False):
        return None
    url = public_url(source, getattr(hit, "link", None), base_url)
    return url if is_web_url(url) else None


def excerpt_source(hit, start: int, end: int, *, how_to: bool, base_url: str | None,
                   max_chars: int = EXCERPT_CHARS) -> tuple[Source, bool]:
    """The excerpt of ``hit`` around the candidate ``hit.text[start:end]``, as a citation: the
    steps of its list for a how-to question when the passage has steps, else the sentence(s)
    around it; markup dropped; ``highlight`` marks the candidate inside the excerpt. Also
    whether the excerpt is a list of steps."""
    text = plain(hit.text)
    a, b = text.to_plain(start, end)
    found = steps_in(text.text, a) if how_to else None
    if found is not None:
        left, right = found
        snippet = bounded_steps(text.text[left:right], max_chars)
    else:
        left, right = excerpt_around(text.text, a, b, max_chars)
        snippet = text.text[left:right]
    highlight = ((a - left, b - left) if left <= a and b <= left + len(snippet) and a < b
                 else None)
    origin = text.to_original(left, right)[0]
    return Source(hit.title, hit.location, snippet, highlight, hit.source,
                  getattr(hit, "passage_id", None), round(float(hit.score), 4), hit.text,
                  start if highlight else origin, url_of(hit, base_url)), found is not None


def more_articles(hits: Sequence, shown: str, base_url: str | None,
                  n: int = MORE_ARTICLES) -> tuple[Source, ...]:
    """Up to ``n`` other articles among the retrieved hits, best first, one per file: their
    title and link (the snippet is the heading path, for operators)."""
    seen, out = {shown}, []
    for hit in hits:
        source = getattr(hit, "source", "")
        if not source or source in seen or getattr(hit, "faq", False):
            continue
        seen.add(source)
        out.append(Source(hit.title, hit.location, hit.location, None, source,
                          getattr(hit, "passage_id", None), round(float(hit.score), 4),
                          url=url_of(hit, base_url)))
        if len(out) == n:
            break
    return tuple(out)


def _cited(source: Source, link: bool, label: str) -> str:
    return f"{label} — {source.url}" if link and source.url else label


def related_reply(excerpt: Source, more: Sequence[Source]) -> tuple[str, tuple[Source, ...]]:
    """The reply text (at most ``REPLY_CHARS`` characters) and the sources it cites."""
    quote = " ".join(excerpt.snippet.split()) if "\n" not in excerpt.snippet.strip() \
        else excerpt.snippet.strip()
    for keep, links in ((len(more), True), (1, True), (0, True), (0, False)):
        extra = list(more[:keep])
        lines = [LEAD, f"“{quote}”",
                 f"Source: {_cited(excerpt, links, excerpt.location or excerpt.title)}"]
        if extra:
            lines.append("See also: " + "; ".join(_cited(s, links, s.title or s.location)
                                                  for s in extra))
        lines.append(OFFER)
        text = "\n\n".join(lines)
        if len(text) <= REPLY_CHARS:
            return text, (excerpt, *extra)
    return text[: REPLY_CHARS - 1] + "…", (excerpt,)

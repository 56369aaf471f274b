"""Pure text for chat front ends: splitting long replies, sources, related suggestions,
handoff transcripts."""

from __future__ import annotations

from collections.abc import Sequence

from qabot.dialogue.links import is_web_url

TELEGRAM_LIMIT = 4096
# a related reply is a suggestion, not an answer: every front end says so above it
RELATED_LABEL = "Related (not certain):"


def first_name(author: str | None) -> str:
    """What a user sees of the operator who wrote to them: the first word of the operator's
    account name ("Ann Lee" -> "Ann", "ann.lee@example.com" -> "ann"), never the full account."""
    word = (author or "").split()[0] if (author or "").split() else ""
    word = word.split("@")[0].split(".")[0]
    return word[:40] or "Support"


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at paragraph boundaries, else at line,
    sentence or word boundaries, else hard; nothing is lost but the whitespace at the cuts."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", ". ", " "):
            extra = 1 if separator == ". " else 0  # the full stop stays with its sentence
            at = window.rfind(separator, 0, limit + 1 - extra)
            if at > limit // 4:
                cut = at + extra
                break
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def sources_text(sources: Sequence[dict]) -> str:
    """The stored sources of a reply, one numbered block each, the answer in «»."""
    if not sources:
        return "This answer has no sources to show."
    blocks = []
    for i, s in enumerate(sources, 1):
        snippet = s.get("snippet", "")
        if s.get("highlight") and list(s["highlight"]) != [0, len(snippet)]:
            a, b = s["highlight"]
            snippet = f"{snippet[:a]}«{snippet[a:b]}»{snippet[b:]}"
        blocks.append(f"[{i}] {s.get('location') or s.get('source', '')}\n{snippet}".rstrip())
    return "\n\n".join(blocks)


def _field(source, name: str, default=None):
    """A source's field, whether it is a ``Source`` or a stored dict."""
    if isinstance(source, dict):
        return source.get(name, default)
    return getattr(source, name, default)


def marked_excerpt(source, before: str = "«", after: str = "»") -> str:
    """A related reply's excerpt as its text quotes it (whitespace folded the same way as
    ``dialogue.related.related_reply``), with the candidate between ``before`` and ``after``
    (unmarked when it has no highlight, or the highlight is the whole excerpt: steps)."""
    snippet = _field(source, "snippet", "") or ""
    highlight = _field(source, "highlight")
    marked = snippet
    if highlight is not None and len(highlight) == 2:
        a, b = int(highlight[0]), int(highlight[1])
        if 0 <= a < b <= len(snippet) and (a, b) != (0, len(snippet)):
            marked = f"{snippet[:a]}{before}{snippet[a:b]}{after}{snippet[b:]}"
    return " ".join(marked.split()) if "\n" not in snippet.strip() else marked.strip()


def related_text(text: str, sources: Sequence, before: str = "«", after: str = "»") -> str:
    """The related reply's ``text`` with the candidate marked inside its quoted excerpt (the
    text as it is when the excerpt cannot be found in it)."""
    if not sources:
        return text
    plain = marked_excerpt(sources[0], "", "")
    quoted = f"“{plain}”"
    if not plain or quoted not in text:
        return text
    return text.replace(quoted, f"“{marked_excerpt(sources[0], before, after)}”", 1)


def web_links(sources: Sequence) -> list[tuple[str, str]]:
    """(title, url) of each source with a URL that is safe to render as a link (an http(s)
    URL: ``links.is_web_url``), first seen first, each URL once."""
    out, seen = [], set()
    for source in sources:
        url = _field(source, "url")
        if not is_web_url(url) or url in seen:
            continue
        seen.add(url)
        title = (_field(source, "title") or _field(source, "location") or url).strip()
        out.append((title, url))
    return out


def transcript(messages: Sequence, header: str, limit: int = 20) -> str:
    """A handoff transcript: the header, then the last ``limit`` messages, oldest first."""
    lines = [header, ""]
    for m in list(messages)[-limit:]:
        if m.direction == "out" and not m.text:
            continue  # the bot stayed silent
        who = "user" if m.direction == "in" else "bot"
        lines.append(f"{m.created_at:%H:%M} {who}: {m.text}")
    return "\n".join(lines)

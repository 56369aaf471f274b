"""Pure text for chat front ends: splitting long replies, sources, handoff transcripts."""

from __future__ import annotations

from collections.abc import Sequence

TELEGRAM_LIMIT = 4096


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


def transcript(messages: Sequence, header: str, limit: int = 20) -> str:
    """A handoff transcript: the header, then the last ``limit`` messages, oldest first."""
    lines = [header, ""]
    for m in list(messages)[-limit:]:
        if m.direction == "out" and not m.text:
            continue  # the bot stayed silent
        who = "user" if m.direction == "in" else "bot"
        lines.append(f"{m.created_at:%H:%M} {who}: {m.text}")
    return "\n".join(lines)

"""Document -> Passages: token-aware chunking that respects paragraph and sentence boundaries.

Pure: the only input besides the document is a ``tokenize`` function returning the character
spans of the encoder's tokens in a string (see ``embedding.WordPieceTokenizer``), so tests can
pass the real tokenizer or a fake one.

Algorithm
1. Split the text into blocks at blank lines; a fenced code block stays one block.
2. A block over the token budget is split into sentences (and lines, for tables and code); a
   sentence still over budget is cut into token windows at word boundaries, overlapping by
   ``overlap_tokens``.
3. Blocks and sentences are packed greedily into passages of at most ``budget`` tokens; a new
   passage starts with the trailing sentences of the previous one that fit in the overlap.
Every passage's ``text`` is a verbatim slice of the document, so offsets always map back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from indexer.documents import Document, Passage
from indexer.errors import InvalidSettingError

Tokenize = Callable[[str], Sequence[tuple[int, int]]]

ENCODER_LIMIT = 256  # all-MiniLM-L6-v2 max_seq_length, [CLS] and [SEP] included
SPECIAL_TOKENS = 2

_FENCE_LINE = re.compile(r"^[ \t]{0,3}(```|~~~)", re.M)
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")
# a sentence ends at . ! ? (or CJK full stops) followed by space, or at a line break
_SENTENCE_END = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+|(?<=[。！？])\s*|\n+")


@dataclass(frozen=True)
class ChunkSettings:
    """Passage size in encoder tokens (context prefix included, specials excluded)."""

    max_tokens: int = 160
    overlap_tokens: int = 32
    encoder_limit: int = ENCODER_LIMIT

    def __post_init__(self) -> None:
        if not 16 <= self.max_tokens <= self.encoder_limit - SPECIAL_TOKENS:
            raise InvalidSettingError(
                f"max_tokens must be between 16 and {self.encoder_limit - SPECIAL_TOKENS} "
                f"(the encoder's limit minus [CLS]/[SEP]); got {self.max_tokens}"
            )
        if not 0 <= self.overlap_tokens <= self.max_tokens // 2:
            raise InvalidSettingError(
                f"overlap_tokens must be between 0 and max_tokens/2 ({self.max_tokens // 2}); "
                f"got {self.overlap_tokens}"
            )


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    n_tokens: int
    forced: bool = False  # a hard-cut window: emitted alone, never packed with neighbours


def chunk_document(doc: Document, tokenize: Tokenize, settings: ChunkSettings) -> list[Passage]:
    """Cut one Document into Passages of at most ``settings.max_tokens`` tokens each.

    The budget for the text is ``max_tokens`` minus the tokens of the heading context that is
    prepended for embedding (at least half of ``max_tokens`` is always left for the text).
    """
    prefix_tokens = len(tokenize(doc.context)) + 1 if doc.context else 0
    budget = max(settings.max_tokens - prefix_tokens, settings.max_tokens // 2)
    overlap = min(settings.overlap_tokens, budget // 2)
    spans = _units(doc.text, tokenize, budget, overlap)
    ranges = _pack(spans, budget, overlap)
    passages = []
    for start, end in ranges:
        for s, e, n in _enforce(doc.text, start, end, tokenize, budget):
            passages.append(
                Passage(
                    source=doc.source,
                    title=doc.title,
                    text=doc.text[s:e],
                    start=doc.offset + s,
                    end=doc.offset + e,
                    headings=doc.headings,
                    page=doc.page,
                    n_tokens=n,
                    link=doc.link,
                )
            )
    return passages


def chunk_documents(
    docs: Sequence[Document], tokenize: Tokenize, settings: ChunkSettings
) -> list[Passage]:
    return [p for doc in docs for p in chunk_document(doc, tokenize, settings)]


# --------------------------------------------------------------------------- steps


def blocks(text: str) -> list[tuple[int, int]]:
    """Paragraph blocks as (start, end), trimmed; fenced code blocks are never split."""
    out: list[tuple[int, int]] = []
    fences = [m.start() for m in _FENCE_LINE.finditer(text)]
    protected = list(zip(fences[::2], fences[1::2]))  # (open, close) pairs
    pos = 0
    for sep in _BLANK_LINES.finditer(text):
        if any(o < sep.start() < c for o, c in protected):
            continue
        out.append((pos, sep.start()))
        pos = sep.end()
    out.append((pos, len(text)))
    return [t for t in (_trim(text, s, e) for s, e in out) if t]


def sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence (or line) pieces of text[start:end], trimmed."""
    out = []
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        if m.end() <= pos:
            continue
        out.append((pos, m.start() if m.group(0).strip() == "" else m.end()))
        pos = m.end()
    out.append((pos, end))
    return [t for t in (_trim(text, s, e) for s, e in out) if t]


def _units(text: str, tokenize: Tokenize, budget: int, overlap: int) -> list[_Span]:
    units: list[_Span] = []
    for b_start, b_end in blocks(text):
        n = len(tokenize(text[b_start:b_end]))
        if n <= budget:
            units.append(_Span(b_start, b_end, n))
            continue
        for s_start, s_end in sentences(text, b_start, b_end):
            spans = [(a + s_start, b + s_start) for a, b in tokenize(text[s_start:s_end])]
            if len(spans) <= budget:
                units.append(_Span(s_start, s_end, len(spans)))
            else:
                units.extend(_windows(text, spans, budget, overlap))
    return units


def _windows(text: str, spans: list[tuple[int, int]], budget: int, overlap: int) -> list[_Span]:
    """Cut a long token run into windows of <= budget tokens, ending at word boundaries."""
    out = []
    i = 0
    while i < len(spans):
        j = min(i + budget, len(spans))
        if j < len(spans):
            # prefer to end before a token that starts a word (preceded by whitespace)
            for k in range(j, i + budget // 2, -1):
                if _word_start(text, spans, k):
                    j = k
                    break
        out.append(_Span(spans[i][0], spans[j - 1][1], j - i, forced=True))
        if j >= len(spans):
            break
        nxt = max(j - overlap, i + 1)
        while nxt < j and not _word_start(text, spans, nxt):
            nxt += 1  # start the overlap on a whole word
        i = nxt
    return out


def _word_start(text: str, spans: list[tuple[int, int]], k: int) -> bool:
    return spans[k][0] == 0 or text[spans[k][0] - 1].isspace()


def _pack(units: list[_Span], budget: int, overlap: int) -> list[tuple[int, int]]:
    chunks: list[tuple[int, int]] = []
    current: list[_Span] = []

    def total(spans: list[_Span]) -> int:
        return sum(s.n_tokens for s in spans)

    for unit in units:
        if unit.forced:
            if current:
                chunks.append((current[0].start, current[-1].end))
            chunks.append((unit.start, unit.end))
            current = []
            continue
        if current and total(current) + unit.n_tokens > budget:
            chunks.append((current[0].start, current[-1].end))
            carry: list[_Span] = []
            for prev in reversed(current):
                if total(carry) + prev.n_tokens > overlap:
                    break
                if total(carry) + prev.n_tokens + unit.n_tokens > budget:
                    break
                carry.insert(0, prev)
            current = carry
        current.append(unit)
    if current:
        chunks.append((current[0].start, current[-1].end))
    return chunks


def _enforce(
    text: str, start: int, end: int, tokenize: Tokenize, budget: int
) -> list[tuple[int, int, int]]:
    """Re-tokenize a packed range; if re-tokenizing the joined text overshoots, hard-cut it."""
    spans = [(a + start, b + start) for a, b in tokenize(text[start:end])]
    if len(spans) <= budget:
        return [(start, end, len(spans))]
    out = []
    for w in _windows(text, spans, budget - 4, 0):
        out.extend(_enforce(text, w.start, w.end, tokenize, budget))
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None

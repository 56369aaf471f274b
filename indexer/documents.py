"""The typed records that cross the indexer's boundaries.

A loader turns one file into ``Document`` units (a Markdown section, a PDF page, a whole text
file) and/or ``FaqEntry`` rows. The chunker turns a ``Document`` into ``Passage`` objects whose
``start``/``end`` are character offsets into the file's text as loaded (the decoded file for
Markdown and plain text, the extracted text for HTML, the page text for PDF), so that
``source_text[start:end] == passage.text`` always holds.

``link`` is the article's public address as the file states it, verbatim: the ``permalink`` /
``url`` / ``slug`` of a Markdown file's front matter, or an HTML page's canonical link. It may be
a path or an absolute URL; turning it into a URL is the caller's business (the indexer never
guesses the help centre's address).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def context_label(title: str, headings: tuple[str, ...]) -> str:
    """'Title > Heading > Subheading' (a heading equal to the title is not repeated)."""
    parts = [title, *[h for h in headings if h != title]]
    return " > ".join(p for p in parts if p)


@dataclass(frozen=True)
class Document:
    """One contiguous unit of text from a knowledge-base file."""

    source: str  # path relative to the knowledge-base root, with forward slashes
    title: str  # document title (first H1, <title>, PDF title, or the file stem)
    text: str  # the unit's text, verbatim from the loaded text at ``offset``
    offset: int = 0  # character offset of ``text`` in the loaded text of the file/page
    headings: tuple[str, ...] = ()  # heading path, outermost first (Markdown/HTML)
    page: int | None = None  # 1-based page number (PDF)
    link: str | None = None  # the file's own public path or URL, as written (module doc)

    @property
    def context(self) -> str:
        return context_label(self.title, self.headings)


@dataclass(frozen=True)
class Passage:
    """A retrievable chunk of a Document, small enough for the encoder."""

    source: str
    title: str
    text: str
    start: int  # character offsets into the loaded text of the file/page (see module doc)
    end: int
    headings: tuple[str, ...] = ()
    page: int | None = None
    n_tokens: int = 0  # tokens of ``text`` alone (without the context prefix or specials)
    link: str | None = None  # the Document's ``link``

    @property
    def context(self) -> str:
        return context_label(self.title, self.headings)

    @property
    def location(self) -> str:
        """'source > heading' or 'source, page N', for citations."""
        if self.page is not None:
            return f"{self.source}, page {self.page}"
        inner = [h for h in self.headings if h != self.title]
        return f"{self.source} > {' > '.join(inner)}" if inner else self.source

    @property
    def embedding_text(self) -> str:
        """What the encoder sees: the heading context, then the passage."""
        ctx = self.context
        return f"{ctx}\n{self.text}" if ctx else self.text


@dataclass(frozen=True)
class FaqEntry:
    """A curated question/answer pair from an FAQ sheet. The question is embedded."""

    source: str
    question: str
    answer: str
    row: int  # 1-based data row in the sheet (header excluded) or line in JSONL
    category: str | None = None


@dataclass(frozen=True)
class LoadedFile:
    """What a loader produced for one file, plus non-fatal warnings (e.g. skipped rows)."""

    source: str
    documents: tuple[Document, ...] = ()
    faqs: tuple[FaqEntry, ...] = ()
    warnings: tuple[str, ...] = field(default=())

"""Files -> Documents and FaqEntries.

Supported: Markdown (sections by heading), plain text, HTML (main content only), PDF (one
Document per page) and FAQ sheets (CSV, TSV, JSONL with question/answer columns).
Every failure to read a file is a ``LoadError`` with a one-line reason; the caller reports it
and moves on.
"""

from __future__ import annotations

import io
import logging
import os
import re
from contextvars import ContextVar
from pathlib import Path

from indexer.documents import Document, LoadedFile
from indexer.errors import LoadError
from indexer.faq_sheets import load_faq

MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {".txt"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
FAQ_SUFFIXES = {".csv", ".tsv", ".jsonl"}
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | FAQ_SUFFIXES
# the same, in the order messages list them (.md .markdown .txt .htm .html .pdf .csv .tsv .jsonl)
SUPPORTED_TYPES = tuple(
    suffix
    for group in (MARKDOWN_SUFFIXES, TEXT_SUFFIXES, HTML_SUFFIXES, PDF_SUFFIXES, FAQ_SUFFIXES)
    for suffix in sorted(group, key=lambda s: (len(s), s))
)

MAX_FILE_BYTES = 50 * 1024 * 1024

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")


# --------------------------------------------------------------------------- discovery


def discover(root: Path, hidden: list[Path] | None = None) -> tuple[list[Path], list[Path]]:
    """All files under ``root`` (hidden ones excluded), split into (supported, unsupported).
    A symbolic link whose target lies outside ``root`` counts as unsupported: it is listed as
    ignored, never read (a knowledge base must not pull in files from elsewhere). The hidden
    files and folders (not looked into) are appended to ``hidden`` when it is given."""
    supported: list[Path] = []
    unsupported: list[Path] = []
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        if hidden is not None:
            hidden += [Path(dirpath) / d for d in sorted(dirnames) if d.startswith(".")]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                if hidden is not None:
                    hidden.append(Path(dirpath) / name)
                continue
            path = Path(dirpath) / name
            if not path.is_file():
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                unsupported.append(path)
                continue
            (supported if path.suffix.lower() in SUPPORTED_SUFFIXES else unsupported).append(path)
    return supported, unsupported


def source_name(path: Path, root: Path) -> str:
    """The stable name of a file in the index: its path relative to the root, '/'-separated
    (the link's own name for a symbolic link, not its target's)."""
    if path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    return (path.parent.resolve() / path.name).relative_to(root.resolve()).as_posix()


# --------------------------------------------------------------------------- entry point


def load_file(path: Path, source: str | None = None) -> LoadedFile:
    """Load one knowledge-base file. Raises ``LoadError`` when it cannot be read."""
    source = source or path.name
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size  # checked before reading: a huge file is never loaded
        if size > MAX_FILE_BYTES:
            raise LoadError(source, f"file too large ({size // 2**20} MiB > 50 MiB)")
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # a file that grew meanwhile stops here
    except OSError as exc:
        raise LoadError(source, f"cannot read file ({exc.strerror or exc})") from exc
    if len(data) > MAX_FILE_BYTES:
        raise LoadError(source, f"file too large (> {MAX_FILE_BYTES // 2**20} MiB)")
    if not data.strip():
        raise LoadError(source, "empty file")

    if suffix in PDF_SUFFIXES:
        return load_pdf(data, source, path.stem)
    text = decode_text(data, source)
    if suffix in MARKDOWN_SUFFIXES:
        return LoadedFile(source, documents=tuple(markdown_documents(text, source, path.stem)))
    if suffix in TEXT_SUFFIXES:
        doc = _whole_text(text, source, _title_from_stem(path.stem))
        return LoadedFile(source, documents=(doc,))
    if suffix in HTML_SUFFIXES:
        return load_html(text, source, path.stem)
    if suffix in FAQ_SUFFIXES:
        return load_faq(text, source, suffix)
    raise LoadError(source, f"unsupported file type '{suffix or '(none)'}'")


def decode_text(data: bytes, source: str) -> str:
    """Strict UTF-8 (BOM allowed); NUL bytes mean binary. Newlines normalised to '\\n'."""
    if b"\x00" in data[:8192]:
        raise LoadError(source, "binary content (NUL bytes), not a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            source,
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save the file as UTF-8",
        ) from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise LoadError(source, "empty file (whitespace only)")
    return text


def _title_from_stem(stem: str) -> str:
    words = re.sub(r"[-_]+", " ", stem).strip()
    return words[:1].upper() + words[1:] if words else stem


def _whole_text(text: str, source: str, title: str) -> Document:
    start = len(text) - len(text.lstrip())
    body = text.strip()
    return Document(source=source, title=title, text=body, offset=start)


# --------------------------------------------------------------------------- markdown


def markdown_documents(text: str, source: str, stem: str) -> list[Document]:
    """Split Markdown into one Document per heading section (headings in code fences ignored).

    Each Document's text is the section body (heading line excluded), stripped, and its
    ``headings`` the path of headings above it. YAML front matter is skipped; its
    ``permalink`` / ``url`` / ``slug`` becomes every Document's ``link`` (``front_matter_link``).
    """
    sections: list[tuple[tuple[str, ...], int, int]] = []  # (headings, body_start, body_end)
    stack: list[tuple[int, str]] = []
    title: str | None = None
    pos = _front_matter_end(text)
    link = front_matter_link(text)
    body_start = pos
    in_fence = False
    fence_marker = ""
    for line in text[pos:].splitlines(keepends=True):
        line_start, pos = pos, pos + len(line)
        stripped = line.rstrip("\n")
        fence = _FENCE.match(stripped)
        if fence:
            if not in_fence:
                in_fence, fence_marker = True, fence.group(1)
            elif fence.group(1) == fence_marker:
                in_fence = False
            continue
        if in_fence:
            continue
        heading = _HEADING.match(stripped)
        if not heading:
            continue
        sections.append((tuple(h for _, h in stack), body_start, line_start))
        level, name = len(heading.group(1)), _strip_inline_markup(heading.group(2))
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, name))
        if level == 1 and title is None:
            title = name
        body_start = pos
    sections.append((tuple(h for _, h in stack), body_start, len(text)))

    title = title or _title_from_stem(stem)
    documents = []
    for headings, start, end in sections:
        chunk = text[start:end]
        stripped = chunk.strip()
        if not stripped:
            continue  # empty section (e.g. a heading directly followed by a subheading)
        offset = start + (len(chunk) - len(chunk.lstrip()))
        documents.append(
            Document(source=source, title=title, text=stripped, offset=offset, headings=headings,
                     link=link)
        )
    return documents


def _front_matter_end(text: str) -> int:
    if not text.startswith("---\n"):
        return 0
    end = text.find("\n---\n", 4)
    return 0 if end < 0 else end + len("\n---\n")


LINK_KEYS = ("permalink", "url", "slug")  # front-matter keys naming the public path, in order


def front_matter_link(text: str) -> str | None:
    """The first of ``permalink``, ``url``, ``slug`` set (a non-empty string or number) in the
    ``---``-fenced YAML front matter that opens a Markdown text, as written (stripped). Front
    matter that is not valid YAML, or not a mapping, has no link: it never fails the file."""
    import yaml

    end = _front_matter_end(text)
    if not end:
        return None
    try:
        data = yaml.safe_load(text[len("---\n"):end - len("\n---\n")])
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    for key in LINK_KEYS:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int):
            continue
        value = str(value).strip()
        if value:
            return value
    return None


def _strip_inline_markup(heading: str) -> str:
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) -> text
    return re.sub(r"[*_`]+", "", heading).strip()


# --------------------------------------------------------------------------- html

_DROP_TAGS = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside",
              "form", "iframe", "svg", "button", "select"]
_DROP_ROLES = {"navigation", "banner", "contentinfo", "search", "dialog", "alertdialog"}
_DROP_HINT = re.compile(r"cookie|consent|gdpr-banner|newsletter|sidebar|breadcrumb", re.I)
_BLOCKS = ["p", "div", "section", "article", "li", "tr", "pre", "blockquote", "table", "ul",
           "ol", "dl", "dt", "dd", "figure", "figcaption", "br", "hr"]


def html_to_text(html: str) -> tuple[str, str | None]:
    """Main text of an HTML page as Markdown-like text ('## heading' lines), and its title."""
    text, title, _ = _html_parts(html)
    return text, title


def canonical_link(soup) -> str | None:
    """The ``href`` of the page's first ``<link rel="canonical">`` (stripped), if any."""
    for tag in soup.find_all("link"):
        rel = tag.get("rel") or []
        rel = rel.split() if isinstance(rel, str) else rel
        href = tag.get("href")
        if any(r.lower() == "canonical" for r in rel) and isinstance(href, str) and href.strip():
            return href.strip()
    return None


def _html_parts(html: str) -> tuple[str, str | None, str | None]:
    """(main text, title, canonical link) of an HTML page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    link = canonical_link(soup)
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed:
            continue
        attrs = tag.attrs or {}
        ident = " ".join([attrs.get("id", ""), *attrs.get("class", [])])
        if attrs.get("role") in _DROP_ROLES or (ident.strip() and _DROP_HINT.search(ident)):
            tag.decompose()
    root = soup.find("main") or soup.find(attrs={"role": "main"}) or soup.find("article")
    root = root or soup.body or soup
    for level in range(1, 7):
        for h in root.find_all(f"h{level}"):
            text = h.get_text(" ", strip=True)
            h.replace_with(f"\n\n{'#' * level} {text}\n\n" if text else "")
    for tag in root.find_all("li"):
        tag.insert(0, "- ")
    for tag in root.find_all(["td", "th"]):
        tag.append(" | ")
    for tag in root.find_all(_BLOCKS):
        tag.append("\n")
        if tag.name in {"p", "pre", "table", "ul", "ol", "blockquote"}:
            tag.insert(0, "\n")
    raw = root.get_text()
    lines = [re.sub(r"[ \t\f\v\xa0]+", " ", line).strip() for line in raw.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if title is None:
        h1 = re.search(r"^# (.+)$", text, re.M)
        title = h1.group(1) if h1 else None
    return text, title, link


def load_html(html: str, source: str, stem: str) -> LoadedFile:
    try:
        text, title, link = _html_parts(html)
    except Exception as exc:  # lxml/bs4 raise assorted errors on pathological input
        raise LoadError(source, f"cannot parse HTML ({exc})") from exc
    if not text:
        raise LoadError(source, "no readable text in the HTML page")
    docs = [Document(d.source, title or d.title, d.text, d.offset, d.headings, d.page, link)
            for d in markdown_documents(text, source, stem)]
    return LoadedFile(source, documents=tuple(docs))


# --------------------------------------------------------------------------- pdf


log = logging.getLogger(__name__)
_pdf_source: ContextVar[str | None] = ContextVar("pdf_source", default=None)


class _PypdfToLog(logging.Handler):
    """pypdf reports what it finds wrong in a damaged file (and the repairs it makes) as
    warnings of its own loggers ("EOF marker not found"); with no logging configured, Python
    prints those bare on stderr, next to the one-line reason qabot gives for the file. They go
    to this module's log instead, at INFO (which Python's last-resort handler never prints, and
    a server's log shows), with the file's name."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            log.info("%s: pypdf: %s", _pdf_source.get() or "PDF", record.getMessage())
        except Exception:
            self.handleError(record)


def _route_pypdf_log() -> None:
    pypdf = logging.getLogger("pypdf")
    if not any(isinstance(h, _PypdfToLog) for h in pypdf.handlers):
        pypdf.addHandler(_PypdfToLog())
        pypdf.propagate = False  # a configured root logger gets them from this module's log


def load_pdf(data: bytes, source: str, stem: str) -> LoadedFile:
    """One Document per page with text; page numbers are 1-based. pypdf's own warnings go to
    the log (``_PypdfToLog``); a file that cannot be read raises ``LoadError``."""
    _route_pypdf_log()
    token = _pdf_source.set(source)
    try:
        return _load_pdf(data, source, stem)
    finally:
        _pdf_source.reset(token)


def _load_pdf(data: bytes, source: str, stem: str) -> LoadedFile:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(source, "encrypted PDF (password required)")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or None
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many types on broken files
        raise LoadError(source, f"broken PDF ({type(exc).__name__}: {exc})") from exc
    title = str(meta_title).strip() if meta_title else _title_from_stem(stem)
    docs = []
    warnings = []
    for number, raw in enumerate(pages, start=1):
        text = "\n".join(line.rstrip() for line in raw.replace("\r\n", "\n").split("\n"))
        if not text.strip():
            warnings.append(f"page {number}: no extractable text")
            continue
        doc = _whole_text(text, source, title)
        docs.append(Document(source, title, doc.text, doc.offset, (), number))
    if not docs:
        raise LoadError(source, "no extractable text in the PDF (scanned images?)")
    return LoadedFile(source, documents=tuple(docs), warnings=tuple(warnings))


# --------------------------------------------------------------------------- faq sheets

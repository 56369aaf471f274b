"""Loaders for every format, including broken files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.errors import LoadError
from indexer.loaders import discover, load_file, markdown_documents
from tests.pdfmaker import make_pdf


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


MARKDOWN = """---
title: ignored front matter
---
Intro paragraph before any heading.

# Sync Guide

Sync keeps your notes up to date.

## On *Android*

Open **Settings** and tap Sync.

### Troubleshooting

```bash
# this is a comment, not a heading
qabot --sync
```

## Empty section

## Limits

Free accounts sync 2 devices.
"""


def test_markdown_sections_carry_heading_paths(tmp_path):
    loaded = load_file(write(tmp_path, "sync-guide.md", MARKDOWN), "sync-guide.md")
    docs = loaded.documents
    assert [d.headings for d in docs] == [
        (),
        ("Sync Guide",),
        ("Sync Guide", "On Android"),
        ("Sync Guide", "On Android", "Troubleshooting"),
        ("Sync Guide", "Limits"),
    ]
    assert all(d.title == "Sync Guide" for d in docs)
    assert docs[0].text == "Intro paragraph before any heading."
    assert "# this is a comment" in docs[3].text  # a '#' line inside a code fence stays text
    assert docs[2].context == "Sync Guide > On Android"


def test_markdown_offsets_point_back_into_the_file(tmp_path):
    path = write(tmp_path, "a.md", MARKDOWN.replace("\n", "\r\n"))  # Windows newlines too
    loaded_text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    for doc in load_file(path, "a.md").documents:
        assert loaded_text[doc.offset : doc.offset + len(doc.text)] == doc.text


def test_markdown_without_h1_uses_file_name_as_title():
    docs = markdown_documents("## Setup\n\nDo this.\n", "x/getting_started.md", "getting_started")
    assert docs[0].title == "Getting started"
    assert docs[0].headings == ("Setup",)


def test_text_file_is_one_document(tmp_path):
    loaded = load_file(write(tmp_path, "contact-us.txt", "\n\n  Call us on 555-0100.\n"), "c.txt")
    (doc,) = loaded.documents
    assert doc.text == "Call us on 555-0100."
    assert doc.title == "Contact us"
    assert doc.offset == 4


HTML = """<!doctype html><html><head><title>Release notes</title>
<script>var tracking = "SCRIPT-TEXT";</script><style>.x{color:red}</style></head>
<body>
<nav><a href="/">NAV-HOME</a><a href="/pricing">NAV-PRICING</a></nav>
<header>HEADER-BANNER</header>
<div class="cookie-banner">We use COOKIES. <button>Accept</button></div>
<main>
  <h1>Release notes</h1>
  <h2>Version 4.2</h2>
  <p>Released on <b>15 September 2026</b>.</p>
  <ul><li>Faster sync</li><li>Dark mode for the web app</li></ul>
  <h2>Version 4.1</h2>
  <p>Added tables&nbsp;in notes.</p>
</main>
<footer>FOOTER-COPYRIGHT</footer>
</body></html>"""


def test_html_keeps_main_content_only(tmp_path):
    loaded = load_file(write(tmp_path, "notes.html", HTML), "notes.html")
    text = "\n".join(d.text for d in loaded.documents)
    for noise in ("SCRIPT-TEXT", "NAV-HOME", "HEADER-BANNER", "COOKIES", "FOOTER-COPYRIGHT"):
        assert noise not in text
    assert "15 September 2026" in text and "Dark mode for the web app" in text
    assert "tables in notes" in text  # &nbsp; normalised
    by_heading = {d.headings[-1]: d for d in loaded.documents}
    assert set(by_heading) == {"Version 4.2", "Version 4.1"}
    assert by_heading["Version 4.2"].title == "Release notes"
    assert by_heading["Version 4.2"].headings == ("Release notes", "Version 4.2")


def test_example_html_page_excludes_navigation(example_kb):
    html = (example_kb / "release-notes.html").read_text(encoding="utf-8")
    loaded = load_file(example_kb / "release-notes.html", "release-notes.html")
    text = "\n".join(d.text for d in loaded.documents)
    assert len(loaded.documents) >= 3
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    nav = soup.find("nav").get_text(" ", strip=True)
    assert nav and nav not in text
    for script in soup.find_all("script"):
        body = script.get_text(strip=True)
        assert not body or body[:40] not in text


def test_pdf_pages_become_documents_with_page_numbers(tmp_path):
    pdf = make_pdf([["Admin guide", "SSO uses SAML 2.0."], [], ["SCIM tokens last 365 days."]],
                   title="Admin Guide")
    loaded = load_file(write(tmp_path, "guide.pdf", pdf), "guide.pdf")
    assert [d.page for d in loaded.documents] == [1, 3]
    assert "SAML 2.0" in loaded.documents[0].text
    assert "365 days" in loaded.documents[1].text
    assert loaded.documents[0].title == "Admin Guide"
    assert loaded.warnings == ("page 2: no extractable text",)


def test_example_pdf_has_text_on_every_page(example_kb):
    (pdf,) = example_kb.glob("*.pdf")
    loaded = load_file(pdf, pdf.name)
    assert len(loaded.documents) >= 3
    assert [d.page for d in loaded.documents] == list(range(1, len(loaded.documents) + 1))


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog garbage", "broken PDF"),
        ("not-a-pdf.pdf", b"hello, I am text pretending", "broken PDF"),
        ("scanned.pdf", make_pdf([[], []]), "no extractable text"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary content"),
        ("latin1.txt", "Caf\xe9 cr\xe8me".encode("latin-1"), "not valid UTF-8"),
        ("empty.md", b"", "empty file"),
        ("blank.txt", b"   \n\n\t ", "empty file"),
        ("faq.csv", b"foo,bar\n1,2\n", "needs 'question' and 'answer' columns"),
        ("faq.jsonl", b'{"question": "", "answer": "x"}\nnot json\n', "no valid question/answer"),
        ("page.html", b"<html><body><nav>only nav</nav></body></html>", "no readable text"),
    ],
)
def test_unreadable_files_raise_a_clear_load_error(tmp_path, name, content, reason):
    with pytest.raises(LoadError) as info:
        load_file(write(tmp_path, name, content), name)
    assert reason in str(info.value)
    assert info.value.source == name


def test_faq_csv_with_quoting_and_bad_rows(tmp_path):
    csv_text = (
        "Question,Answer,Category\n"
        '"How much is Pro?","€8 per month, billed monthly.",billing\n'
        ',"orphan answer",x\n'
        '"Multi\nline?","Yes, ""quoted"" too",\n'
    )
    loaded = load_file(write(tmp_path, "faq.csv", csv_text), "faq.csv")
    assert [(f.question, f.answer, f.row, f.category) for f in loaded.faqs] == [
        ("How much is Pro?", "€8 per month, billed monthly.", 1, "billing"),
        ("Multi line?", 'Yes, "quoted" too', 3, None),
    ]
    assert loaded.warnings == ("row 2: empty question or answer; skipped",)
    assert loaded.documents == ()


def test_faq_tsv_and_jsonl(tmp_path):
    tsv = load_file(write(tmp_path, "f.tsv", "question\tanswer\nCan I export?\tYes, as PDF.\n"),
                    "f.tsv")
    assert tsv.faqs[0].answer == "Yes, as PDF."
    lines = [json.dumps({"question": "Is there a trial?", "answer": "14 days."}), "{oops",
             json.dumps(["not", "an object"])]
    jsonl = load_file(write(tmp_path, "f.jsonl", "\n".join(lines)), "f.jsonl")
    assert [f.question for f in jsonl.faqs] == ["Is there a trial?"]
    assert jsonl.warnings[0].startswith("line 2: invalid JSON")
    assert jsonl.warnings[1] == "line 3: not a JSON object; skipped"


def test_example_faq_sheet_has_enough_rows(example_kb):
    loaded = load_file(example_kb / "faq.csv", "faq.csv")
    assert len(loaded.faqs) >= 40
    assert not loaded.warnings


def test_discover_skips_hidden_and_splits_unsupported(tmp_path):
    write(tmp_path, "a.md", "# A\n\ntext")
    write(tmp_path, "sub/b.TXT", "text")
    write(tmp_path, ".hidden.md", "x")
    write(tmp_path, ".git/config.md", "x")
    write(tmp_path, "logo.png", b"\x89PNG")
    supported, unsupported = discover(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in supported] == ["a.md", "sub/b.TXT"]
    assert [p.name for p in unsupported] == ["logo.png"]


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import indexer.loaders as loaders

    big = tmp_path / "big.md"
    big.write_text("# Big\n\n" + "word " * 100)
    monkeypatch.setattr(loaders, "MAX_FILE_BYTES", 64)

    def never(*args, **kwargs):
        raise AssertionError("the oversized file was opened")

    monkeypatch.setattr(Path, "open", never)
    monkeypatch.setattr(Path, "read_bytes", never)
    with pytest.raises(LoadError, match="too large"):
        load_file(big)


def test_a_symlink_out_of_the_knowledge_base_is_ignored_not_fatal(tmp_path):
    from indexer.sync import build
    from tests.fakes import HashingEmbedder

    outside = tmp_path / "secrets.md"
    outside.write_text("# Secrets\n\nThe root password is hunter2.\n")
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "refunds.md").write_text("# Refunds\n\nAnnual payments are refunded within 30 days.\n")
    (kb / "inside.md").symlink_to(kb / "refunds.md")  # a link within the KB is read
    (kb / "leak.md").symlink_to(outside)
    _, unsupported = discover(kb)
    assert [p.name for p in unsupported] == ["leak.md"]
    report = build(kb, tmp_path / "index", HashingEmbedder())
    assert "leak.md" in report.plan.ignored and report.committed
    from indexer.store import IndexStore

    store = IndexStore.open(tmp_path / "index")
    assert store.stats().files == 2
    assert not any("hunter2" in h.text for h in store.search(
        HashingEmbedder().embed(["root password hunter2"])[0], 10))


@pytest.mark.parametrize("front_matter, link", [
    ("permalink: /sync/plans/\nurl: https://x.org/u\nslug: s", "/sync/plans/"),
    ("url: https://help.example.com/a b\nslug: s", "https://help.example.com/a b"),
    ("slug: plans-and-limits", "plans-and-limits"),
    ("permalink: ''\nslug: fallback", "fallback"),  # first *set*, in order
    ("slug: 2024", "2024"),
    ("title: no link here", None),
    ("permalink: [unclosed", None),  # broken YAML: no link, the file still loads
    ("- a list\n- not a mapping", None),
    ("permalink: !!python/object/apply:os.system ['echo x']", None),  # safe_load refuses
    ("slug: true", None),
])
def test_markdown_front_matter_gives_the_link(tmp_path, front_matter, link):
    text = f"---\n{front_matter}\n---\n# Plans\n\nSync stores 1 GB per vault.\n"
    loaded = load_file(write(tmp_path, "Sync/Plans.md", text), "Sync/Plans.md")
    assert [d.text for d in loaded.documents] == ["Sync stores 1 GB per vault."]
    assert [d.link for d in loaded.documents] == [link]


def test_markdown_link_reaches_every_passage_and_other_files_have_none(tmp_path):
    from indexer.chunking import ChunkSettings, chunk_documents
    from tests.fakes import regex_token_spans

    text = "---\nslug: sync-guide\n---\n" + MARKDOWN.split("---\n", 2)[2]
    docs = load_file(write(tmp_path, "guide.md", text), "guide.md").documents
    passages = chunk_documents(docs, regex_token_spans, ChunkSettings(max_tokens=16,
                                                                      overlap_tokens=4))
    assert len(passages) > 3 and {p.link for p in passages} == {"sync-guide"}
    assert {d.link for d in load_file(write(tmp_path, "s.md", MARKDOWN)).documents} == {None}
    assert load_file(write(tmp_path, "t.txt", "permalink: /no\n")).documents[0].link is None


def test_html_canonical_link_gives_the_link(tmp_path):
    page = HTML.replace("<head>", '<head><link rel="alternate" href="/feed.xml">'
                                  '<link rel="Canonical" href=" /release-notes/ ">'
                                  '<link rel="canonical" href="/second">')
    loaded = load_file(write(tmp_path, "notes.html", page), "notes.html")
    assert {d.link for d in loaded.documents} == {"/release-notes/"}
    assert {d.link for d in load_file(write(tmp_path, "n.html", HTML)).documents} == {None}


def test_discover_lists_hidden_files_and_folders_when_asked(tmp_path):
    write(tmp_path, "a.md", "# A\n\ntext")
    write(tmp_path, ".hidden.md", "x")
    write(tmp_path, ".git/config.md", "x")
    write(tmp_path, "sub/.DS_Store", "x")
    hidden: list[Path] = []
    supported, _ = discover(tmp_path, hidden)
    assert [p.name for p in supported] == ["a.md"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in hidden) == [
        ".git", ".hidden.md", "sub/.DS_Store"]


def test_pypdf_warnings_go_to_the_log_with_the_file_name(tmp_path, caplog):
    """pypdf logs "EOF marker not found" for a truncated file: that goes to the loader's log at
    INFO (never printed by Python's last-resort handler), not to pypdf's logger's handlers."""
    import logging

    seen: list[logging.LogRecord] = []
    pypdf_logger = logging.getLogger("pypdf")
    spy = logging.Handler()
    spy.emit = seen.append
    caplog.set_level(logging.DEBUG)
    with pytest.raises(LoadError, match="broken PDF"):
        load_file(write(tmp_path, "broken.pdf", b"%PDF-1.7 garbage"), "broken.pdf")
    assert not pypdf_logger.propagate  # the root's handlers (stderr in a CLI) never see them
    logging.getLogger().addHandler(spy)
    try:
        with pytest.raises(LoadError):
            load_file(write(tmp_path, "again.pdf", b"%PDF-1.7 garbage"), "again.pdf")
    finally:
        logging.getLogger().removeHandler(spy)
    assert [r.name for r in seen] == ["indexer.loaders"]
    assert seen[0].levelno == logging.INFO
    assert seen[0].getMessage() == "again.pdf: pypdf: EOF marker not found"

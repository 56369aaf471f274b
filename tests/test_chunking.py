"""Chunker properties and edge cases, with the encoder's real WordPiece tokenizer."""

from __future__ import annotations

import random

import pytest

from indexer.chunking import ChunkSettings, blocks, chunk_document, sentences
from indexer.documents import Document
from indexer.errors import InvalidSettingError
from tests.fakes import regex_token_spans

SETTINGS = ChunkSettings(max_tokens=64, overlap_tokens=16)


def doc(text: str, headings=("Guide", "Section"), offset: int = 100) -> Document:
    return Document(source="s.md", title="Guide", text=text, offset=offset, headings=headings)


def check_invariants(d: Document, passages, tokenize, settings=SETTINGS):
    assert passages, "non-empty text must give passages"
    for p in passages:
        local = (p.start - d.offset, p.end - d.offset)
        assert d.text[local[0] : local[1]] == p.text  # offsets map back exactly
        assert p.text == p.text.strip() and p.text
        assert len(tokenize(p.text)) == p.n_tokens <= settings.max_tokens
        assert (p.source, p.title, p.headings, p.page) == (d.source, d.title, d.headings, d.page)
    # every non-space character of the document is in at least one passage
    covered = bytearray(len(d.text))
    for p in passages:
        covered[p.start - d.offset : p.end - d.offset] = b"\x01" * (p.end - p.start)
    missing = [c for c, hit in zip(d.text, covered) if not hit and not c.isspace()]
    assert not missing, f"uncovered characters: {''.join(missing)[:80]!r}"
    starts = [p.start for p in passages]
    assert starts == sorted(starts)


PROSE = " ".join(
    f"Sentence number {i} explains how feature {i % 7} works in the app." for i in range(60)
)


def test_prose_respects_sentences_and_overlaps(wordpiece):
    d = doc(PROSE)
    passages = chunk_document(d, wordpiece, SETTINGS)
    check_invariants(d, passages, wordpiece)
    assert len(passages) > 5
    for p in passages:
        assert p.text.startswith("Sentence number") and p.text.endswith("app.")
    for a, b in zip(passages, passages[1:]):
        assert b.start < a.end, "consecutive passages of one section share an overlap"
        shared = a.end - b.start
        assert 0 < len(wordpiece(d.text[b.start - d.offset : a.end - d.offset])) <= 16
        assert shared < len(a.text)


def test_small_paragraphs_are_packed_and_never_split(wordpiece):
    paragraphs = [f"Paragraph {i}. It has two sentences about item {i}." for i in range(12)]
    d = doc("\n\n".join(paragraphs))
    passages = chunk_document(d, wordpiece, SETTINGS)
    check_invariants(d, passages, wordpiece)
    for p in passages:
        assert p.text.startswith("Paragraph") and p.text.endswith(".")
    assert len(passages) < len(paragraphs)


def test_huge_paragraph_without_punctuation(wordpiece):
    rng = random.Random(7)
    words = ["note", "sync", "tablet", "quill", "encryption", "offline", "workspace", "x9"]
    d = doc(" ".join(rng.choice(words) for _ in range(3000)))
    passages = chunk_document(d, wordpiece, SETTINGS)
    check_invariants(d, passages, wordpiece)
    for a, b in zip(passages, passages[1:]):
        assert b.start < a.end  # hard windows overlap too
    for p in passages:  # cut at word boundaries
        assert p.start == d.offset or d.text[p.start - d.offset - 1] == " "


def test_one_giant_token_run_is_still_bounded(wordpiece):
    d = doc("a" * 5000 + "b" * 3000)
    passages = chunk_document(d, wordpiece, SETTINGS)
    check_invariants(d, passages, wordpiece)


def test_empty_and_whitespace_documents_give_nothing(wordpiece):
    assert chunk_document(doc(""), wordpiece, SETTINGS) == []
    assert chunk_document(doc(" \n\n \t"), wordpiece, SETTINGS) == []


def test_markdown_table_is_split_between_rows(wordpiece):
    rows = "\n".join(f"| Plan {i} | €{i}.00 per month | {i * 10} GB storage |" for i in range(40))
    d = doc("| Plan | Price | Storage |\n|---|---|---|\n" + rows)
    passages = chunk_document(d, wordpiece, SETTINGS)
    check_invariants(d, passages, wordpiece)
    assert len(passages) > 1
    for p in passages:
        assert p.text.startswith("|") and p.text.endswith("|")


def test_fenced_code_block_with_blank_lines_stays_whole(wordpiece):
    code = "```python\ndef sync():\n\n    return True\n\n\nprint(sync())\n```"
    d = doc(f"Before the code.\n\n{code}\n\nAfter the code.")
    opening = d.text.index("```")
    assert (opening, d.text.index("```", opening + 3) + 3) in blocks(d.text)
    passages = chunk_document(d, wordpiece, SETTINGS)
    check_invariants(d, passages, wordpiece)
    assert any(code in p.text for p in passages)


@pytest.mark.parametrize(
    "text",
    [
        "東京のオフィスは月曜日から金曜日まで営業しています。" * 40,
        "Синхронизация заметок работает на всех устройствах. " * 40,
        "تعمل المزامنة على جميع الأجهزة. " * 40,
        "同步功能适用于所有设备！" * 60,
        "🙂 emoji 🚀 " * 200,
    ],
)
def test_non_latin_scripts(wordpiece, text):
    d = doc(text)
    check_invariants(d, chunk_document(d, wordpiece, SETTINGS), wordpiece)


def test_heading_context_counts_against_the_budget(wordpiece):
    long_heading = ("Very long heading words " * 6).strip()
    d = doc(PROSE, headings=(long_heading,))
    passages = chunk_document(d, wordpiece, SETTINGS)
    check_invariants(d, passages, wordpiece)
    for p in passages:
        assert len(wordpiece(p.embedding_text)) <= SETTINGS.max_tokens


def test_default_settings_fit_the_encoder(wordpiece):
    rng = random.Random(3)
    vocab = "the plan costs €8 per month . sync works offline ! how do I export notes ?".split()
    for seed in range(20):
        text = "\n\n".join(
            " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 400)))
            for _ in range(rng.randint(1, 6))
        )
        d = doc(text, offset=seed)
        passages = chunk_document(d, wordpiece, ChunkSettings())
        check_invariants(d, passages, wordpiece, ChunkSettings())
        assert all(len(wordpiece(p.embedding_text)) + 2 <= 256 for p in passages)


def test_works_with_any_tokenizer_function():
    d = doc(PROSE)
    passages = chunk_document(d, regex_token_spans, SETTINGS)
    check_invariants(d, passages, regex_token_spans)


def test_sentence_splitter():
    text = "First one. Second? Third! Fourth: yes\nline two"
    assert [text[s:e] for s, e in sentences(text, 0, len(text))] == [
        "First one.", "Second?", "Third!", "Fourth:", "yes", "line two"
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 300}, "max_tokens must be between 16 and 254"),
        ({"max_tokens": 8}, "got 8"),
        ({"max_tokens": 64, "overlap_tokens": 40}, "overlap_tokens must be between 0 and"),
        ({"overlap_tokens": -1}, "got -1"),
    ],
)
def test_invalid_settings_are_clear_errors(kwargs, message):
    with pytest.raises(InvalidSettingError, match=message):
        ChunkSettings(**kwargs)

"""Operator answers: the managed FAQ sheet (atomic, locked, escaped appends), the service that
saves and reindexes them, and `qabot faq add|list`."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from indexer.faq_sheets import escape_cell, load_faq, unescape_cell
from indexer.generations import IndexLock
from indexer.loaders import discover, load_file
from indexer.manifest import read_manifest
from qabot import cli
from qabot.app import add_operator_answers
from qabot.config import Settings
from qabot.curation import (
    MAX_ANSWER_CHARS,
    SHEET_NAME,
    OperatorAnswer,
    append_answers,
    list_answers,
    new_answers,
)
from qabot.errors import NotIndexedError, OperatorAnswerError
from tests.test_durability import disk_log  # noqa: F401  (the fsync/rename spy fixture)

TRICKY = [
    "Line one\nline two\n\nline four",
    'She said "hi", then left',
    "a, b, and c",
    "=HYPERLINK(\"http://evil\",\"x\")",
    "+44 20 7946 0000",
    "-5 degrees",
    "@admin please",
    "'=already quoted",
    "''+twice",
    "it's fine",
]


def one_line(text: str) -> str:
    return " ".join(text.split())  # what the loader makes of a cell's whitespace


@pytest.fixture
def kb(tmp_path) -> Path:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "refunds.md").write_text("# Refunds\n\nAnnual payments are refunded in 30 days.\n")
    return folder


def raw_cells(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text("utf-8"))))


# --------------------------------------------------------------------------- escaping


@pytest.mark.parametrize("text", [*TRICKY, "", "'", "'a", "=", "-"])
def test_escaping_is_inverse_and_leaves_no_formula(text):
    escaped = escape_cell(text)
    assert unescape_cell(escaped) == text
    assert not escaped.startswith(("=", "+", "-", "@"))


def test_every_table_sheet_drops_the_formula_quote_and_jsonl_keeps_its_text():
    csv_sheet = load_faq("question,answer\n'=why,'@Bob says '-1\nit's,'plain\n", "a.csv", ".csv")
    assert [(f.question, f.answer) for f in csv_sheet.faqs] == [
        ("=why", "@Bob says '-1"), ("it's", "'plain")]
    tsv_sheet = load_faq("question\tanswer\n'+1 or more?\tyes\n", "a.tsv", ".tsv")
    assert tsv_sheet.faqs[0].question == "+1 or more?"
    jsonl = load_faq('{"question": "\'=x", "answer": "y"}\n', "a.jsonl", ".jsonl")
    assert jsonl.faqs[0].question == "'=x"  # no spreadsheet opens JSONL: nothing is escaped


# --------------------------------------------------------------------------- the sheet


def test_rows_round_trip_through_the_loader(kb):
    answers = [OperatorAnswer(q, a, "billing, misc", "ann", "2025-01-02T03:04:05Z")
               for q, a in zip(TRICKY, reversed(TRICKY), strict=True)]
    sheet = append_answers(kb, answers)
    assert sheet == kb / SHEET_NAME
    header, *rows = raw_cells(sheet)
    assert header == ["question", "answer", "category", "author", "created_at"]
    assert len(rows) == len(TRICKY)
    assert not [c for row in rows for c in row if c.startswith(("=", "+", "-", "@"))]
    assert list_answers(kb) == answers  # exactly, line breaks included
    loaded = load_file(sheet)
    assert not loaded.warnings
    assert [(f.question, f.answer, f.category) for f in loaded.faqs] == [
        (one_line(a.question), one_line(a.answer), "billing, misc") for a in answers]


def test_an_answer_with_other_phrasings_is_one_row_each(kb):
    now = datetime(2025, 5, 1, 9, 30, tzinfo=UTC)
    rows = new_answers("  How do I  export invoices? ", "Go to Billing.\r\nClick Export.",
                       also=["Export my invoices", "how do i export invoices?"],
                       category="billing", author="ann", now=now)
    assert rows == [
        OperatorAnswer("How do I export invoices?", "Go to Billing.\nClick Export.", "billing",
                       "ann", "2025-05-01T09:30:00Z"),
        OperatorAnswer("Export my invoices", "Go to Billing.\nClick Export.", "billing", "ann",
                       "2025-05-01T09:30:00Z")]  # the same question twice is one row
    assert len(new_answers("q", "a" * MAX_ANSWER_CHARS)[0].answer) == MAX_ANSWER_CHARS


def test_appending_to_a_hand_edited_sheet_keeps_its_rows(kb):
    sheet = kb / SHEET_NAME
    hand = 'Question,Answer,notes\nWhat is "Pro"?,"Our plan,\nfor teams",keep me\n=1+1,two,\n'
    sheet.write_text(hand)
    append_answers(kb, [OperatorAnswer("New one?", "Yes.", author="bo")])
    header, *rows = raw_cells(sheet)
    assert header == ["Question", "Answer", "notes", "category", "author", "created_at"]
    assert rows[:2] == [['What is "Pro"?', "Our plan,\nfor teams", "keep me"],
                        ["=1+1", "two", ""]]  # kept exactly as written
    assert rows[2] == ["New one?", "Yes.", "", "", "bo", ""]
    assert [a.question for a in list_answers(kb)] == ['What is "Pro"?', "=1+1", "New one?"]
    assert [f.answer for f in load_file(sheet).faqs] == ["Our plan, for teams", "two", "Yes."]


def test_a_failed_replace_leaves_the_old_sheet_and_no_temporary_file(kb, monkeypatch):
    append_answers(kb, [OperatorAnswer("Old?", "Old.")])
    before = (kb / SHEET_NAME).read_bytes()
    temps = []

    def broken_replace(src, dst):
        temps.append(Path(src))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OperatorAnswerError, match=r"cannot write .*No space left on device"):
        append_answers(kb, [OperatorAnswer("New?", "New.")])
    assert (kb / SHEET_NAME).read_bytes() == before
    (temp,) = temps
    assert temp.parent == kb and not temp.exists()
    assert sorted(p.name for p in kb.iterdir()) == sorted([f".{SHEET_NAME}.lock", SHEET_NAME,
                                                           "refunds.md"])
    # a temporary file a killed process leaves behind is hidden: the indexer never reads it
    temp.write_text("question,answer\nhalf,")
    assert temp not in discover(kb)[0] + discover(kb)[1]


def test_a_write_failing_midway_leaves_the_old_sheet(kb, monkeypatch):
    append_answers(kb, [OperatorAnswer("Old?", "Old.")])
    before = (kb / SHEET_NAME).read_bytes()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OperatorAnswerError):
        append_answers(kb, [OperatorAnswer("New?", "New.")])
    monkeypatch.undo()
    assert (kb / SHEET_NAME).read_bytes() == before
    assert [p.name for p in kb.iterdir() if p.name.endswith(".tmp")] == []


def test_the_sheet_is_synced_before_the_replace_and_the_folder_after(kb, disk_log):  # noqa: F811
    append_answers(kb, [OperatorAnswer("Q?", "A.")])
    kb, sheet = kb.resolve(), (kb / SHEET_NAME).resolve()
    (replace,) = [i for i, e in enumerate(disk_log) if e.op == "rename" and e.target == sheet]
    temp = disk_log[replace].path
    assert temp.parent == kb and temp.name.startswith(".")
    assert any(e.op == "fsync" and e.path == temp for e in disk_log[:replace])
    assert any(e.op == "fsync" and e.path == kb for e in disk_log[replace + 1:])


def test_concurrent_appends_lose_nothing(kb):
    def operator(n: int) -> None:
        for i in range(5):
            append_answers(kb, [OperatorAnswer(f"question {n}-{i}", f"answer {n}-{i}")])

    threads = [threading.Thread(target=operator, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.question for a in list_answers(kb)) == sorted(
        f"question {n}-{i}" for n in range(8) for i in range(5))


# --------------------------------------------------------------------------- the service


@pytest.fixture
def indexed(kb_index, tmp_path, fake_embedder):
    """The conftest knowledge base and its index; ``settings`` point at both."""
    return Settings(kb_dir=tmp_path / "kb", index_dir=kb_index)


def make_read_only(path: Path) -> None:
    path.chmod(0o555 if path.is_dir() else 0o444)


@pytest.mark.parametrize("change, kwargs, message", [
    (None, {"question": ""}, "the question is empty"),
    (None, {"question": " \n "}, "the question is empty"),
    (None, {"answer": "   "}, "the answer is empty"),
    (None, {"answer": "x" * (MAX_ANSWER_CHARS + 1)}, "the answer has 4,001 characters; at most "
     "4,000 are allowed"),
    (None, {"also": ["fine", ""]}, "other phrasing 2 is empty"),
    ("no kb", {}, "no knowledge-base folder is configured"),
    ("missing kb", {}, "the knowledge-base folder .* does not exist"),
    ("read-only sheet", {}, "the sheet .*operator-answers.csv is not writable"),
    ("read-only folder", {}, "the knowledge-base folder .* is not writable"),
    ("folder refuses files", {}, "cannot write .*: Permission denied"),
    ("bad header", {}, "the header needs 'question' and 'answer' columns"),
])
def test_bad_input_is_one_clear_error_and_changes_nothing(indexed, monkeypatch, change, kwargs,
                                                          message, fake_embedder):
    settings, kb = indexed, indexed.kb_dir
    sheet = kb / SHEET_NAME
    sheet.write_text("question,answer\nOld?,Old.\n" if change != "bad header" else "q;a\n1;2\n")
    if change == "no kb":
        settings = Settings(index_dir=settings.index_dir)
    elif change == "missing kb":
        settings = Settings(kb_dir=kb / "nope", index_dir=settings.index_dir)
    elif change == "read-only sheet":
        make_read_only(sheet)
    elif change == "read-only folder":
        make_read_only(kb)
    elif change == "folder refuses files":
        def refuse(*args, **kw):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr("tempfile.mkstemp", refuse)
    def files():  # the empty hidden lock file may appear: the indexer never reads it
        return {p.name: p.read_bytes() for p in kb.iterdir()
                if p.is_file() and p.name != f".{SHEET_NAME}.lock"}

    before = files()
    generation = read_manifest(settings.index_dir).generation
    args = {"question": "How do I export invoices?", "answer": "Go to Billing.", **kwargs}
    try:
        with pytest.raises(OperatorAnswerError, match=message) as caught:
            add_operator_answers(settings, args.pop("question"), args.pop("answer"), **args)
    finally:
        kb.chmod(0o755)
    assert "\n" not in str(caught.value)
    assert files() == before
    assert read_manifest(settings.index_dir).generation == generation


def test_a_saved_answer_is_indexed_and_answered_as_faq(indexed, make_engine, fake_embedder,
                                                       monkeypatch):
    engine = make_engine()
    embedded = []
    real_embed = fake_embedder.embed
    monkeypatch.setattr(fake_embedder, "embed", lambda texts, **kw: (
        embedded.extend(texts), real_embed(texts, **kw))[1])
    before = read_manifest(indexed.index_dir).generation
    taught = add_operator_answers(
        indexed, "How do I export my invoices?", "Open Billing, then click Export.",
        also=["Where can I download invoices?"], author="ann", engine=engine)
    assert [a.question for a in taught.answers] == ["How do I export my invoices?",
                                                    "Where can I download invoices?"]
    assert taught.generation == read_manifest(indexed.index_dir).generation != before
    assert taught.summary.startswith("Reindexed: 1 files added, 0 updated, 0 removed")
    assert set(embedded) == {"How do I export my invoices?", "Where can I download invoices?"}
    conv = engine.start("console", "bob")
    for question in ("How do I export my invoices?", "Where can I download invoices?"):
        reply = engine.respond(conv, question)
        assert (reply.kind, reply.answer) == ("faq", "Open Billing, then click Export.")
        assert reply.sources[0].source == SHEET_NAME


def test_a_locked_index_keeps_the_saved_answer_for_the_next_reindex(indexed, make_engine):
    engine = make_engine()
    lock = IndexLock(indexed.index_dir)
    lock.acquire()
    try:
        with pytest.raises(NotIndexedError, match=r"saved 1 question.* was not updated: "):
            add_operator_answers(indexed, "Q?", "A.", wait_s=0, engine=engine)
    finally:
        lock.release()
    assert [a.question for a in list_answers(indexed.kb_dir)] == ["Q?"]
    add_operator_answers(indexed, "Other?", "B.", engine=engine)  # indexes both
    conv = engine.start("console", "bob")
    assert engine.respond(conv, "Q?").answer == "A."


def test_a_reindex_waits_for_another_writer(indexed, make_engine):
    engine, held = make_engine(), threading.Event()

    def writer() -> None:  # another writer holds the index for half a second
        with IndexLock(indexed.index_dir):
            held.set()
            time.sleep(0.5)

    thread = threading.Thread(target=writer)
    thread.start()
    held.wait()
    taught = add_operator_answers(indexed, "Q?", "A.", wait_s=10, engine=engine)
    thread.join()
    assert taught.generation == read_manifest(indexed.index_dir).generation


# --------------------------------------------------------------------------- the CLI


def test_cli_faq_add_and_list(indexed, make_engine, fake_embedder, monkeypatch, capsys):
    monkeypatch.setattr("indexer.embedding.embedder_for", lambda *a, **kw: fake_embedder)
    kb, index = str(indexed.kb_dir), str(indexed.index_dir)
    assert cli.main(["faq", "list", "--kb", kb, "--index", index]) == 0
    assert capsys.readouterr().out == f"no operator answers yet ({kb}/{SHEET_NAME})\n"
    assert cli.main(["faq", "add", "--kb", kb, "--index", index,
                     "--question", "How do I export my invoices?",
                     "--answer", "Open Billing,\nthen click \"Export\".",
                     "--also", "Where can I download invoices?", "--category", "billing",
                     "--author", "ann"]) == 0
    generation = read_manifest(indexed.index_dir).generation
    assert capsys.readouterr().out == (
        f"added 2 question(s) to {kb}/{SHEET_NAME}:\n"
        "  How do I export my invoices?\n"
        "  Where can I download invoices?\n"
        "Reindexed: 1 files added, 0 updated, 0 removed, 5 unchanged; 0 skipped.\n"
        f"index {index}: generation {generation}\n")
    reply = make_engine().respond(make_engine().start("console", "bob"),
                                  "Where can I download invoices?")
    assert (reply.kind, reply.answer) == ("faq", 'Open Billing, then click "Export".')

    assert cli.main(["faq", "list", "--kb", kb, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["question"], r["answer"], r["category"], r["author"]) for r in rows] == [
        (q, 'Open Billing,\nthen click "Export".', "billing", "ann")
        for q in ("How do I export my invoices?", "Where can I download invoices?")]
    assert all(r["created_at"].endswith("Z") for r in rows)
    assert cli.main(["faq", "list", "--kb", kb]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["created_at", "author", "category", "question", "answer"]
    assert "Where can I download invoices?" in table[2] and table[2].endswith(
        'Open Billing, then click "Export".')


def test_cli_faq_add_errors_are_one_line(indexed, capsys):
    assert cli.main(["faq", "add", "--kb", str(indexed.kb_dir), "--question", "Q?",
                     "--answer", " "]) == 1
    assert capsys.readouterr().err == "qabot: error: the answer is empty\n"
    assert not (indexed.kb_dir / SHEET_NAME).exists()


def test_cli_faq_add_takes_the_answered_questions_off_the_unanswered_list(
        indexed, fake_embedder, monkeypatch, capsys, tmp_path):
    from qabot.history import History

    monkeypatch.setattr("indexer.embedding.embedder_for", lambda *a, **kw: fake_embedder)
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    history = History.open(url)
    conv = history.current_conversation(history.user_id("web", "u-1"))
    for question in ("Who is the CEO?", "Where is the office?"):
        asked = history.add_message(conv.id, "in", question)
        history.add_reply(conv.id, asked, "I don't know", kind="fallback", unanswered=question)
    assert cli.main(["faq", "add", "--kb", str(indexed.kb_dir), "--index",
                     str(indexed.index_dir), "--db", url, "--question", "who is the  ceo?",
                     "--answer", "Dana Smith."]) == 0
    assert "1 unanswered question(s) in the history are answered now" in capsys.readouterr().out
    assert [q.question for q in history.unanswered()] == ["Where is the office?"]
    history.close()
    missing = f"sqlite:///{tmp_path / 'none.sqlite'}"  # no database yet: none is created
    assert cli.main(["faq", "add", "--kb", str(indexed.kb_dir), "--index",
                     str(indexed.index_dir), "--db", missing, "--question", "Q2?",
                     "--answer", "A2."]) == 0
    assert not (tmp_path / "none.sqlite").exists()


def test_a_curated_question_asked_word_for_word_beats_the_router(indexed, make_engine):
    """The router reads "person" as a request for one; the question an operator answered is
    answered all the same, when asked as written (case, spacing and the question mark aside),
    and a real request for a person still hands off."""
    engine = make_engine()
    conversation = engine.start("web", "u-1")
    before = engine.respond(conversation, "Can a person visit your office?")
    assert before.kind == "handoff"
    engine.release(conversation)
    add_operator_answers(indexed, "Can a person visit your office?",
                         "Visits are by appointment: email hello@example.com.", engine=engine)
    for asked in ("Can a person visit your office?", "can a person  VISIT your office"):
        reply = engine.respond(engine.start("web", "u-2", new=True), asked)
        assert (reply.kind, reply.answer) == ("faq", "Visits are by appointment: email "
                                                     "hello@example.com.")
        assert reply.intent == "human_handoff"  # what the router said, kept for the record
    still = engine.respond(engine.start("web", "u-3"), "I want to talk to a person")
    assert still.kind == "handoff"


def test_the_same_answer_saved_twice_is_one_row(kb):
    """A save sent twice (a double click, a /answer run again after a crash) adds nothing the
    second time; the same question with another answer is a new row."""
    first = new_answers("How do I export?", "Open Billing.", also=["Export how?"])
    append_answers(kb, first)
    append_answers(kb, new_answers("how do I  EXPORT?", "Open Billing.", also=["Export how?"]))
    append_answers(kb, new_answers("How do I export?", "Open Settings, then Export."))
    assert [(r.question, r.answer) for r in list_answers(kb)] == [
        ("How do I export?", "Open Billing."), ("Export how?", "Open Billing."),
        ("How do I export?", "Open Settings, then Export.")]


def test_cli_faq_list_of_a_missing_folder_is_an_error(tmp_path, capsys):
    assert cli.main(["faq", "list", "--kb", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"qabot: error: the knowledge-base folder {tmp_path / 'nope'} does not exist")

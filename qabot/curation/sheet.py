"""The managed FAQ sheet of operator answers: ``<kb_dir>/operator-answers.csv``.

An ordinary FAQ sheet of the knowledge base (the indexer reads it like any other), with the
columns ``question``, ``answer``, ``category``, ``author`` and ``created_at`` (ISO 8601, UTC).
Operators add to it with ``qabot faq add`` (later the dashboard and Telegram), and may edit it by
hand: an append keeps every row and column it finds, and adds the missing optional columns.

An append is a locked read-modify-write: ``flock`` on the hidden ``.operator-answers.csv.lock``
(the indexer ignores hidden files) serializes operators saving at once, and the whole new sheet
replaces the old one atomically (``indexer.fsutil.write_atomic``), so no answer is lost and no
reader ever sees half a sheet. New cells are escaped against spreadsheet formulas
(``indexer.faq_sheets.escape_cell``; every CSV/TSV sheet is read back through ``unescape_cell``).
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from indexer.faq_sheets import escape_cell, unescape_cell
from indexer.fsutil import write_atomic
from qabot.channels import MAX_MESSAGE_CHARS
from qabot.errors import OperatorAnswerError

SHEET_NAME = "operator-answers.csv"
LOCK_NAME = f".{SHEET_NAME}.lock"
COLUMNS = ("question", "answer", "category", "author", "created_at")
MAX_ANSWER_CHARS = MAX_MESSAGE_CHARS  # as long as a message may be


@dataclass(frozen=True)
class OperatorAnswer:
    """One row of the sheet: a question and the curated answer the bot gives to it."""

    question: str
    answer: str
    category: str | None = None
    author: str | None = None
    created_at: str | None = None  # ISO 8601 UTC, e.g. 2025-05-01T09:30:00Z


def sheet_path(kb_dir: Path | None) -> Path:
    """Where the managed sheet lives; an ``OperatorAnswerError`` without a knowledge base."""
    if kb_dir is None:
        raise OperatorAnswerError("no knowledge-base folder is configured (QABOT_KB_DIR or "
                                  "kb_dir in the settings file)")
    return Path(kb_dir) / SHEET_NAME


def new_answers(question: str, answer: str, *, also: Sequence[str] = (),
                category: str | None = None, author: str | None = None,
                now: datetime | None = None) -> list[OperatorAnswer]:
    """The rows for one answer: the question and each other phrasing in ``also`` (duplicates
    dropped), all with the same answer. Raises ``OperatorAnswerError`` on an empty question or
    answer, or an answer longer than ``MAX_ANSWER_CHARS``."""
    answer = _text(answer)
    if not answer:
        raise OperatorAnswerError("the answer is empty")
    if len(answer) > MAX_ANSWER_CHARS:
        raise OperatorAnswerError(f"the answer has {len(answer):,} characters; at most "
                                  f"{MAX_ANSWER_CHARS:,} are allowed")
    questions: list[str] = []
    for number, text in enumerate([question, *also]):
        text = " ".join(str(text).split())
        if not text:
            raise OperatorAnswerError("the question is empty" if number == 0 else
                                      f"other phrasing {number} is empty")
        if text.casefold() not in {q.casefold() for q in questions}:
            questions.append(text)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    category = " ".join(category.split()) if category else None
    author = " ".join(author.split()) if author else None
    return [OperatorAnswer(q, answer, category or None, author or None, stamp)
            for q in questions]


def append_answers(kb_dir: Path | None, answers: Sequence[OperatorAnswer]) -> Path:
    """Add ``answers`` to the end of the sheet (created when missing); returns its path. Either
    every row is saved or, with an ``OperatorAnswerError``, nothing changed."""
    path = sheet_path(kb_dir)
    _check_writable(path)
    try:
        with _locked(path.parent / LOCK_NAME):
            header, rows = parse_sheet(_read(path), str(path)) if path.exists() else ([], [])
            _remove_leftovers(path)
            write_atomic(path, render_sheet(*with_answers(header, rows, answers)))
    except OSError as exc:
        raise OperatorAnswerError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def _remove_leftovers(path: Path) -> None:
    """Delete the temporary files of writes a killed process left (``write_atomic``'s hidden
    ``.<sheet>.*.tmp``): under the lock no other write of the sheet is under way."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)


def list_answers(kb_dir: Path | None) -> list[OperatorAnswer]:
    """The sheet's rows (hand-edited ones included; blank rows skipped), oldest first."""
    path = sheet_path(kb_dir)
    if not path.exists():
        return []
    header, rows = parse_sheet(_read(path), str(path))
    at = {name.strip().lower(): i for i, name in reversed(list(enumerate(header)))}

    def cell(row: list[str], column: str) -> str | None:
        i = at.get(column)
        value = unescape_cell(row[i]).strip() if i is not None and i < len(row) else ""
        return value or None

    answers = []
    for row in rows:
        if any(value.strip() for value in row):
            values = {c: cell(row, c) for c in COLUMNS}
            answers.append(OperatorAnswer(values.pop("question") or "",
                                          values.pop("answer") or "", **values))
    return answers


def parse_sheet(text: str, source: str) -> tuple[list[str], list[list[str]]]:
    """A sheet's text -> (its header, its rows as lists of cells, as written). Raises
    ``OperatorAnswerError`` when the header lacks ``question`` or ``answer``."""
    try:
        lines = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise OperatorAnswerError(f"{source}: malformed CSV ({exc}); fix it by hand") from exc
    if not lines:
        return [], []
    header, rows = lines[0], lines[1:]
    names = {name.strip().lower() for name in header}
    if not {"question", "answer"} <= names:
        raise OperatorAnswerError(f"{source}: the header needs 'question' and 'answer' columns "
                                  f"(found: {', '.join(map(repr, header)) or 'none'})")
    return header, rows


def with_answers(header: list[str], rows: list[list[str]],
                 answers: Sequence[OperatorAnswer]) -> tuple[list[str], list[list[str]]]:
    """The header (the missing ``COLUMNS`` added after its own) and the rows, ``answers``
    appended as escaped cells, but for one the sheet already holds (the same question, case
    and spacing aside, with the same answer: a save sent twice, a command run again after a
    crash). Pure: the existing rows are kept exactly as they are."""
    header = list(header)
    at = {name.strip().lower(): i for i, name in reversed(list(enumerate(header)))}
    for column in COLUMNS:
        if column not in at:
            at[column] = len(header)
            header.append(column)

    def cell(row: list[str], column: str) -> str:
        i = at[column]
        return unescape_cell(row[i]).strip() if i < len(row) else ""

    held = {(_folded(cell(r, "question")), cell(r, "answer")) for r in rows}
    new_rows = []
    for answer in answers:
        key = (_folded(answer.question), answer.answer.strip())
        if key in held:
            continue
        held.add(key)
        row = [""] * len(header)
        for column in COLUMNS:
            row[at[column]] = escape_cell(getattr(answer, column) or "")
        new_rows.append(row)
    return header, [*rows, *new_rows]


def _folded(question: str) -> str:
    return " ".join(question.casefold().split())


def render_sheet(header: list[str], rows: list[list[str]]) -> bytes:
    """The CSV bytes of a sheet (UTF-8, every cell with a quote, comma or newline quoted)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _text(text: str) -> str:
    """An answer's text with its line breaks as ``\\n``, surrounding blanks removed."""
    return "\n".join(line.rstrip() for line in str(text).splitlines()).strip()


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OperatorAnswerError(f"{path}: not UTF-8 text; save it as UTF-8 CSV") from exc
    except OSError as exc:
        raise OperatorAnswerError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _check_writable(path: Path) -> None:
    """Refuse, before anything is written, a missing or read-only folder or sheet (read-only:
    no write permission, or no owner write bit, which even root respects here)."""
    folder = path.parent
    if not folder.is_dir():
        raise OperatorAnswerError(f"the knowledge-base folder {folder} does not exist")
    for target, what in ((folder, "knowledge-base folder"), (path, "sheet")):
        if target.exists() and not (os.access(target, os.W_OK)
                                    and target.stat().st_mode & stat.S_IWUSR):
            raise OperatorAnswerError(f"the {what} {target} is not writable")


@contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``lock`` (threads and processes alike wait for it)."""
    with open(lock, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

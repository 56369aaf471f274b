"""FAQ sheets (CSV, TSV, JSONL with question/answer columns or keys) -> FaqEntries. Rows without
a question or an answer are skipped with a warning; a sheet with none is a LoadError.

Formula escaping (CSV and TSV): a cell that starts with ``=``, ``+``, ``-`` or ``@`` would be a
formula when the sheet is opened in a spreadsheet, so ``escape_cell`` writes it with a leading
``'`` (the spreadsheets' own "this is text" mark), and every CSV/TSV sheet is read through
``unescape_cell``, which drops one leading ``'`` when one of those characters follows its
leading quotes. The two are inverse: any text survives ``unescape_cell(escape_cell(text))``."""

from __future__ import annotations

import csv
import io
import json

from indexer.documents import FaqEntry, LoadedFile
from indexer.errors import LoadError

FORMULA_STARTS = ("=", "+", "-", "@")
_QUESTION_KEYS = ("question", "q", "questions")
_ANSWER_KEYS = ("answer", "a", "answers")


def load_faq(text: str, source: str, suffix: str) -> LoadedFile:
    """FAQ sheet -> FaqEntries. Rows without a question or an answer are skipped with a warning."""
    rows = _jsonl_rows(text, source) if suffix == ".jsonl" else _table_rows(text, source, suffix)
    faqs: list[FaqEntry] = []
    warnings: list[str] = []
    for number, row in rows:
        if isinstance(row, str):
            warnings.append(f"line {number}: {row}; skipped")
            continue
        question = _pick(row, _QUESTION_KEYS)
        answer = _pick(row, _ANSWER_KEYS)
        if not question or not answer:
            warnings.append(f"row {number}: empty question or answer; skipped")
            continue
        category = row.get("category") or row.get("topic") or None
        faqs.append(FaqEntry(source, question, answer, number, str(category) if category else None))
    if not faqs:
        raise LoadError(source, "no valid question/answer rows in the FAQ sheet")
    return LoadedFile(source, faqs=tuple(faqs), warnings=tuple(warnings))


def escape_cell(text: str) -> str:
    """A CSV/TSV cell a spreadsheet shows as text: one more ``'`` before a formula character
    that leads the text or follows its leading ``'`` (so that ``unescape_cell`` gives it back)."""
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text


def unescape_cell(text: str) -> str:
    """The text of a CSV/TSV cell: one leading ``'`` dropped when a formula character follows."""
    if text.startswith("'") and text[1:].lstrip("'").startswith(FORMULA_STARTS):
        return text[1:]
    return text


def _pick(row: dict, keys: tuple[str, ...]) -> str:
    for key in keys:
        value = row.get(key)
        if value is not None and str(value).strip():
            return " ".join(str(value).split())
    return ""


def _table_rows(text: str, source: str, suffix: str) -> list[tuple[int, dict | str]]:
    delimiter = "\t" if suffix == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    try:
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise LoadError(source, f"malformed {suffix[1:].upper()} ({exc})") from exc
    if not any(k in fields for k in _QUESTION_KEYS) or not any(k in fields for k in _ANSWER_KEYS):
        found = ", ".join(repr(f) for f in fields) or "none"
        raise LoadError(source, f"FAQ sheet needs 'question' and 'answer' columns (found: {found})")
    rows: list[tuple[int, dict | str]] = []
    try:
        for number, raw in enumerate(reader, start=1):
            rows.append((number, {str(k).strip().lower(): _cell(v)
                                  for k, v in raw.items() if k}))
    except csv.Error as exc:
        raise LoadError(source, f"malformed {suffix[1:].upper()} ({exc})") from exc
    return rows


def _cell(value):
    return unescape_cell(value) if isinstance(value, str) else value


def _jsonl_rows(text: str, source: str) -> list[tuple[int, dict | str]]:
    rows: list[tuple[int, dict | str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append((number, f"invalid JSON ({exc.msg})"))
            continue
        if not isinstance(obj, dict):
            rows.append((number, "not a JSON object"))
            continue
        rows.append((number, {str(k).strip().lower(): v for k, v in obj.items()}))
    return rows

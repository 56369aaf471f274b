"""SQLite tables of an index generation: files, passages and FAQ entries (SQLAlchemy 2).

Row ids of ``passages`` and ``faq_entries`` are the FAISS ids. AUTOINCREMENT guarantees an id
is never reused, so a stale vector can never point at a new row.

``passages.link`` (the file's public path or URL) came with format 2: a generation written
before it lacks the column. Readers ask ``has_link_column``; a writer continuing from such a
generation adds the column to its staged copy (``upgrade_schema``).
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import ForeignKey, Integer, String, Text, create_engine, event, inspect
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class FileRow(Base):
    __tablename__ = "files"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String, unique=True, index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    indexed_at: Mapped[str] = mapped_column(String)


class PassageRow(Base):
    __tablename__ = "passages"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id"), index=True)
    source: Mapped[str] = mapped_column(String)
    title: Mapped[str] = mapped_column(String)
    headings_json: Mapped[str] = mapped_column(Text, default="[]")
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    n_tokens: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String, nullable=True)  # since format 2

    @property
    def headings(self) -> tuple[str, ...]:
        return tuple(json.loads(self.headings_json))


class FaqRow(Base):
    __tablename__ = "faq_entries"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id"), index=True)
    source: Mapped[str] = mapped_column(String)
    row: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String, nullable=True)


def sqlite_engine(path: Path, *, read_only: bool) -> Engine:
    """An engine on one generation's database. Read-only engines can never modify it."""
    if read_only:
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        url = f"sqlite:///{path}"
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not read_only:
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    return engine


def has_link_column(engine: Engine) -> bool:
    """Whether this database's ``passages`` table has the ``link`` column (format 2)."""
    return any(c["name"] == "link" for c in inspect(engine).get_columns("passages"))


def upgrade_schema(engine: Engine) -> None:
    """Bring a writable database written by an earlier format up to this one's columns
    (the tables themselves come from ``Base.metadata.create_all``)."""
    if not has_link_column(engine):
        with engine.begin() as conn:
            conn.execute(sql_text("ALTER TABLE passages ADD COLUMN link VARCHAR"))

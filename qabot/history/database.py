"""The history database: an SQLAlchemy engine for any URL (SQLite gets foreign keys, WAL and
its folder created), and the schema brought to the latest Alembic revision."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from qabot.errors import QabotError

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x7161626F74  # "qabot": the advisory lock migrations run under (PostgreSQL)


class HistoryError(QabotError):
    """The history database cannot be opened or written."""


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


def upgrade_schema(engine: Engine, url: str) -> None:
    """Apply every Alembic migration not yet applied (creates the schema on a new DB)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":  # replicas starting at once take turns
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise HistoryError(f"cannot open the history database {safe_url(url)}: "
                           f"{reason}") from None


def create_db_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise HistoryError(f"invalid database URL {url!r} (e.g. sqlite:///path/history.sqlite "
                           "or postgresql+psycopg://user@host/db)") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, ModuleNotFoundError) as exc:
        raise HistoryError(f"cannot use database URL {make_url(url).render_as_string()}: "
                           f"{exc}") from None

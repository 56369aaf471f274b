"""The history's Alembic migrations on SQLite and on PostgreSQL: head builds exactly the models'
schema, data migrations keep what they should, and every revision steps down and up again
without losing data (the engines are History's own: SQLite with foreign keys on)."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from qabot.history import History
from qabot.history.database import MIGRATIONS
from qabot.history.models import Base


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _migrate(engine: Engine, action, revision: str) -> None:
    """``command.upgrade`` or ``command.downgrade`` to ``revision`` in one transaction."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, revision)


def _revisions() -> list[str]:
    """Every revision, oldest first (one line of history: a branch fails here)."""
    script = ScriptDirectory.from_config(_config())
    assert len(script.get_heads()) == 1, script.get_heads()
    return [s.revision for s in script.walk_revisions()][::-1]


def _current(engine: Engine) -> str | None:
    with engine.connect() as c:
        return MigrationContext.configure(c).get_current_revision()


def _drift(engine: Engine) -> list:
    """What autogenerate would change to make the database match the models."""
    with engine.connect() as c:
        return compare_metadata(MigrationContext.configure(c), Base.metadata)


def _schema(engine: Engine) -> dict:
    """The tables as the database reports them: columns, keys, indexes and constraints."""
    inspector = inspect(engine)
    schema = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        schema[table] = {
            "columns": [(c["name"], repr(c["type"]), c["nullable"], c.get("default"))
                        for c in inspector.get_columns(table)],
            "primary": inspector.get_pk_constraint(table),
            "foreign": sorted((f["name"], f["constrained_columns"], f["referred_table"],
                               f["referred_columns"], f.get("options"))
                              for f in inspector.get_foreign_keys(table)),
            "indexes": sorted((i["name"], i["column_names"], i["unique"])
                              for i in inspector.get_indexes(table)),
            "unique": sorted((u["name"], u["column_names"])
                             for u in inspector.get_unique_constraints(table)),
        }
    return schema


def _rows(engine: Engine) -> dict[str, list[dict]]:
    """Every row of every table (but alembic_version), by id; an empty table gives one row of
    NULLs (id NULL: no stored row equals it), so that its columns are always its rows' keys."""
    tables = {}
    with engine.connect() as c:
        for table in sorted(set(inspect(engine).get_table_names()) - {"alembic_version"}):
            result = c.execute(text(f"select * from {table} order by id"))
            tables[table] = [dict(r) for r in result.mappings()] or [dict.fromkeys(result.keys())]
    return tables


def _same_rows(before: dict[str, list[dict]], after: dict[str, list[dict]]) -> None:
    """The tables in both hold the same rows, in the columns they both have."""
    for table in before.keys() & after.keys():
        columns = before[table][0].keys() & after[table][0].keys()
        assert ([{k: r[k] for k in columns} for r in after[table]]
                == [{k: r[k] for k in columns} for r in before[table]]), table


def _write_everything(h: History) -> str:
    """A row in every table, through the History API; returns the operator session's id."""
    conv = h.current_conversation(h.user_id("telegram", "42", "Alice"))
    asked = h.add_message(conv.id, "in", "refunds?", update_key="telegram:1")
    h.add_reply(conv.id, asked, "within 30 days", kind="answer", score=31.5)
    asked = h.add_message(conv.id, "in", "who is the CEO?", update_key="telegram:2")
    reply = h.add_reply(conv.id, asked, "I don't know", kind="none", score=2.0,
                        unanswered="who is the CEO?", handoff="no answer")
    h.add_feedback(reply, -1, "useless")
    desk = h.operator_desk(("telegram",))  # an operator's reply and release, with deliveries
    assert desk.reply(conv.id, "Hello, Ann here.", "ann").author == "ann"
    assert desk.release(conv.id, "web:ann", "You're talking to the bot again.") is not None
    assert desk.mark_answered(["Who is the  CEO?"]) == 1  # sets unanswered.answered_at
    h.inbox("telegram").record(1, "42", '{"update_id": 1}')
    return h.operator_sessions().open("ann", timedelta(hours=12))


def test_the_migrations_build_exactly_the_models_schema(history_url):
    """Alembic's head and the SQLAlchemy models agree on both backends (a model change without
    a migration, or the reverse, shows here)."""
    h = History.open(history_url)
    assert _drift(h.engine) == []
    h.close()


def test_the_migration_keeps_the_newest_of_duplicate_votes(history_url):
    """A history written before 0002 (double taps stored twice) upgrades to one vote each."""
    h = History.open(history_url)
    conv = h.current_conversation(h.user_id("telegram", "42"))
    asked = h.add_message(conv.id, "in", "refunds?")
    reply = h.add_message(conv.id, "out", "within 30 days", reply_to=asked, kind="answer")
    _migrate(h.engine, command.downgrade, "0001")
    with h.engine.begin() as c:
        for value in (1, 1, -1):
            c.execute(text("insert into feedback (message_id, value, created_at) "
                           "values (:m, :v, CURRENT_TIMESTAMP)"), {"m": reply, "v": value})
    h.close()
    h = History.open(history_url)  # upgrades to head
    with h.engine.connect() as c:
        assert c.execute(text("select message_id, value from feedback")).all() == [(reply, -1)]
    assert _drift(h.engine) == []
    h.close()


def test_every_migration_steps_down_and_up_again_keeping_the_data(history_url):
    """Up one revision at a time (noting each schema), data in every table, down one revision
    at a time: each step succeeds, rebuilds the schema its revision had on the way up and keeps
    every row of the tables that remain; up to head with the data, down to base, and up to head
    again: the schema is the models' and the history works."""
    revisions = _revisions()
    h = History(history_url)  # History's engine (SQLite: foreign keys on), not yet upgraded
    schemas = {None: _schema(h.engine)}
    for revision in revisions:
        _migrate(h.engine, command.upgrade, revision)
        assert _current(h.engine) == revision
        schemas[revision] = _schema(h.engine)
    assert schemas[None] == {}
    assert _drift(h.engine) == []

    _write_everything(h)
    written = _rows(h.engine)
    assert all(rows[0]["id"] is not None for rows in written.values())  # no table is empty
    for revision, below in zip(revisions[:0:-1], revisions[-2::-1], strict=True):
        _migrate(h.engine, command.downgrade, below)
        assert _current(h.engine) == below, f"downgrade of {revision}"
        assert _schema(h.engine) == schemas[below], f"downgrade of {revision}"
        _same_rows(written, _rows(h.engine))
    oldest = _rows(h.engine)

    _migrate(h.engine, command.upgrade, "head")  # back up with the data in place
    assert _schema(h.engine) == schemas[revisions[-1]]
    again = _rows(h.engine)
    _same_rows(oldest, again)
    assert all(again[table] == [dict.fromkeys(again[table][0])]
               for table in again.keys() - oldest.keys())  # tables created anew are empty

    _migrate(h.engine, command.downgrade, "base")
    assert _current(h.engine) is None and _schema(h.engine) == {}
    h.close()
    h = History.open(history_url)
    assert _current(h.engine) == revisions[-1]
    assert _schema(h.engine) == schemas[revisions[-1]]
    assert _drift(h.engine) == []
    session = _write_everything(h)
    assert h.message_by_key("telegram:2").text == "who is the CEO?"
    assert h.operator_sessions().check(session) == "ann"
    assert h.unanswered() == [] and h.stats().unanswered == 1  # answered, still counted
    assert h.stats().feedback_down == 1
    assert [m.kind for m in h.messages(h.message_by_key("telegram:2").conversation_id)][-2:] \
        == ["operator", "released"]
    h.close()

"""Where the history lives and how to reach it: a SQLite file (the default) or a database URL (PostgreSQL), one
SQLAlchemy engine per database per process, migrated to the current schema by Alembic on first use.

SQLite: WAL lets readers work while a run is written; writes take the lock at BEGIN IMMEDIATE with a busy timeout,
so concurrent sessions and processes queue instead of failing with "database is locked".
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

BUSY_TIMEOUT_S = 30.0
SCHEMA_VERSION = 7  # Alembic revision "v7"; schema 3 was the last before Alembic (SQLite's user_version)
LEGACY_MAX = 3
MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 7_140_014  # any fixed number: pg_advisory_xact_lock key that serialises migrations

_engines: dict[str, Engine] = {}
_migrated: set[str] = set()
_lock = threading.Lock()


class HistoryError(RuntimeError):
    """The history database cannot be used (a newer schema, a broken file, an unreachable server)."""


def history_url(location: str | Path) -> URL:
    """A Path or plain string is a SQLite file; a string with '://' is a database URL."""
    if isinstance(location, str) and "://" in location:
        return make_url(location)
    return URL.create("sqlite", database=str(Path(location)))


def describe(location: str | Path) -> str:
    """The location to show a user: never a password."""
    url = history_url(location)
    return url.database if url.get_backend_name() == "sqlite" else url.render_as_string(hide_password=True)


def _alembic_config():
    from alembic.config import Config  # imported when a database is first opened, not at every import

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def engine(location: str | Path) -> Engine:
    """The engine of this database, its schema brought up to date the first time this process uses it."""
    url = history_url(location)
    key = url.render_as_string(hide_password=False)
    with _lock:
        found = _engines.get(key)
        if found is None:
            found = _engines[key] = _create_engine(url)
        if key not in _migrated or (url.get_backend_name() == "sqlite" and not Path(url.database).exists()):
            _migrate(found)
            _migrated.add(key)
    return found


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        # A server that does not answer fails a page in seconds, not after the operating system's TCP timeout.
        timeout = {"connect_timeout": 10} if "connect_timeout" not in url.query else {}
        return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8, connect_args=timeout)
    try:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HistoryError(f"the history database cannot be created: {error.strerror or error}") from None
    # NullPool: a file's connection is opened per use (cheap), so nothing keeps a closed test file or a replaced
    # backup open.
    created = create_engine(url, poolclass=NullPool, connect_args={"timeout": BUSY_TIMEOUT_S})

    wal = []

    @event.listens_for(created, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below), pysqlite does not
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        if not wal:  # persistent in the file: once per process is enough
            dbapi_connection.execute("PRAGMA journal_mode = WAL")
            wal.append(True)

    @event.listens_for(created, "begin")
    def _on_begin(connection: Connection):
        immediate = connection.get_execution_options().get("immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return created


@contextmanager
def writing(location: str | Path) -> Iterator[Connection]:
    """A write transaction: on SQLite it takes the write lock at once, waiting up to the busy timeout."""
    with engine(location).connect() as connection:
        connection.execution_options(immediate=True)
        with connection.begin():
            yield connection


def _migrate(found: Engine) -> None:
    """Upgrade to the newest revision, in one transaction that holds the database's write lock (SQLite) or an
    advisory lock (PostgreSQL), so two processes starting together migrate once."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = head_revision()
    try:
        with found.connect() as connection:
            connection.execution_options(immediate=True)
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
                current = MigrationContext.configure(connection).get_current_revision()
                if current == head:
                    return
                if current is None and connection.dialect.name == "sqlite":
                    legacy = connection.exec_driver_sql("PRAGMA user_version").scalar()
                    if legacy > LEGACY_MAX:
                        raise HistoryError(
                            f"the history database has schema {legacy}; this app knows up to {SCHEMA_VERSION}"
                        )
                known = {script.revision for script in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}
                if current is not None and current not in known:
                    raise HistoryError(
                        f"the history database has schema {current!r}, written by a newer version of the app; "
                        f"this app knows up to {head!r}"
                    )
                config = _alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
    except (SQLAlchemyError, sqlite3.Error) as error:
        raise HistoryError(f"the history database cannot be opened: {_reason(error)}") from error


def _reason(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    return str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__


def dispose_all() -> None:
    """Close every pooled connection (tests, and a process that forks)."""
    with _lock:
        for found in _engines.values():
            found.dispose()
        _engines.clear()
        _migrated.clear()

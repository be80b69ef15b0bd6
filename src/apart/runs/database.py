"""Opening the store's database: SQLite in the data directory, or PostgreSQL (DESIGN §9, §12).

:func:`open_engine` returns an engine whose schema is migrated and ready, or
raises :class:`apart.errors.ConfigError` with a sentence that names the file or
URL (never its password) and the fix. Nothing here runs at import.

SQLite connections are set up for several processes sharing one file: WAL
journal, ``synchronous=NORMAL`` (durable across process crashes, one fsync per
checkpoint of the WAL), a 10 s busy timeout and enforced foreign keys. SQLAlchemy
emits ``BEGIN`` itself so that every transaction, reads included, is one
snapshot; write transactions ask for ``BEGIN IMMEDIATE`` through
:func:`apart.runs.tables.writing`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from apart.errors import ConfigError
from apart.runs.migrations import migrate
from apart.runs.tables import SQLITE_BEGIN_OPTION

#: the SQLite database file inside APART_DATA_DIR
DB_FILE = "apart.db"

#: set on every SQLite connection (journal_mode=WAL too, see _use_wal)
SQLITE_PRAGMAS: tuple[tuple[str, str], ...] = (
    ("busy_timeout", "10000"),
    ("synchronous", "NORMAL"),
    ("foreign_keys", "ON"),
)
_BUSY_TIMEOUT_S = 10.0

_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})
_CORRUPT_MARKERS = ("not a database", "malformed", "encrypted")
_PG_CONNECT_TIMEOUT_S = 10


def sqlite_url(data_dir: Path) -> str:
    """The URL of the SQLite database kept in ``data_dir`` (absolute)."""
    return f"sqlite:///{(Path(data_dir) / DB_FILE).resolve()}"


def open_engine(url: str) -> Engine:
    """An engine on ``url`` with the schema at the latest version, or a ConfigError."""
    parsed = _parse_url(url)
    engine = _create_sqlite(parsed) if _is_sqlite(parsed) else _create_server(parsed)
    try:
        with _config_errors(parsed):
            migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def safe_url(url: URL | str) -> str:
    """The URL as text with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


# -- URLs --------------------------------------------------------------------------


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            "the database URL is not a valid SQLAlchemy URL; set APART_DATABASE_URL to "
            "postgresql+psycopg://user:password@host:5432/dbname, or unset it to use "
            "SQLite in APART_DATA_DIR"
        ) from exc
    if parsed.drivername == "postgresql":  # psycopg 3 is the driver apart ships with
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"database {safe_url(parsed)} is not supported; apart stores runs in SQLite "
            "or PostgreSQL (postgresql+psycopg://user:password@host:5432/dbname)"
        )
    return parsed


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _sqlite_path(url: URL) -> Path | None:
    """The database file, or None for an in-memory or URI-style database."""
    if url.database in (None, "", ":memory:") or "uri" in url.query:
        return None
    return Path(url.database)


# -- SQLite ------------------------------------------------------------------------


def _create_sqlite(url: URL) -> Engine:
    path = _sqlite_path(url)
    if path is not None:
        _prepare_data_dir(path)
    if url.database in (None, "", ":memory:"):
        # one private in-memory database on one connection: for single-threaded tests only
        engine = create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = create_engine(url)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _prepare_data_dir(path: Path) -> None:
    directory = path.parent
    fix = "or set APART_DATA_DIR to a writable directory"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot create the data directory {directory} ({reason}); "
            f"create it yourself, {fix}"
        ) from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(
            f"the data directory {directory} is not writable by this user; "
            f"fix its permissions, {fix}"
        )
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not a database file; move it aside, {fix}")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise ConfigError(
            f"the database file {path} is not readable and writable by this user; "
            f"fix its permissions, {fix}"
        )


def _on_sqlite_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # SQLAlchemy emits BEGIN (see _on_sqlite_begin), not the sqlite3 module
    dbapi_conn.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_conn.cursor()
    try:
        for name, value in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {name}={value}")
        _use_wal(cursor)
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the database to WAL (persistent, so normally a no-op after the first time).

    The switch can fail with "database is locked" without waiting for the busy
    timeout when several processes open a new database at once: retry until then.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _on_sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
    if mode not in _BEGIN_MODES:
        raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")


# -- PostgreSQL --------------------------------------------------------------------


def _create_server(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = _PG_CONNECT_TIMEOUT_S
    try:
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except (ImportError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"cannot use {safe_url(url)}: its driver is not installed ({exc}); "
            "install it with `pip install 'apart[postgres]'`"
        ) from exc


# -- errors ------------------------------------------------------------------------


@contextmanager
def _config_errors(url: URL) -> Iterator[None]:
    """Turn the database's complaints while opening into ConfigErrors that say what to do."""
    try:
        yield
    except (DBAPIError, sqlite3.Error) as exc:
        reason = _reason(exc)
        if _is_sqlite(url):
            raise ConfigError(_sqlite_problem(url, reason)) from exc
        raise ConfigError(_server_problem(url, exc, reason)) from exc


def _reason(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def _sqlite_problem(url: URL, reason: str) -> str:
    path = _sqlite_path(url)
    name = str(path) if path is not None else safe_url(url)
    if any(marker in reason.lower() for marker in _CORRUPT_MARKERS):
        return (
            f"{name} is not a SQLite database or is corrupted ({reason}); move it aside "
            f"(mv {name} {name}.broken) to start a new database, or set APART_DATA_DIR "
            "to another directory"
        )
    return (
        f"cannot use the SQLite database {name} ({reason}); check that it and its "
        "directory are writable by this user and not locked by a stuck process, "
        "or set APART_DATA_DIR to another directory"
    )


def _server_problem(url: URL, exc: BaseException, reason: str) -> str:
    where = safe_url(url)
    if isinstance(exc, OperationalError):
        return (
            f"cannot connect to the database {where} ({reason}); check that PostgreSQL "
            "is running and reachable, that the database exists, and that "
            "APART_DATABASE_URL has the right user, password, host, port and name"
        )
    return (
        f"the database {where} refused to set up apart's tables ({reason}); check that "
        "the user in APART_DATABASE_URL may create tables in that database"
    )

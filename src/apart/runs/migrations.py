"""Versioned schema migrations (DESIGN §9).

The ``schema_version`` table holds one row per schema version the database went
through; the highest is the current one. :func:`migrate` brings a database to
the newest version this code knows:

* an empty database gets the current schema with ``create_all`` and is stamped
  with the latest version (it never replays old migrations);
* an older database gets every later migration, in order, in one transaction;
* a newer database is refused with :class:`apart.errors.ConfigError`.

Concurrent first-time opens serialize on a lock (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: a transaction-level advisory lock) and re-check the version once they
hold it; a loser of any remaining race retries and finds the work done.

To change the schema: edit :mod:`apart.runs.tables`, then append a
``Migration(N + 1, "what changes", apply)`` whose ``apply(conn)`` turns version N
into version N + 1 (``ALTER TABLE`` ..., data fixes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from apart.errors import ConfigError
from apart.runs import tables
from apart.runs.tables import UTCDateTime, writing


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _initial_schema(conn: Connection) -> None:
    tables.metadata.create_all(conn)


def _index_events_by_time(conn: Connection) -> None:
    for index in tables.events.indexes:
        if index.name == "ix_events_timestamp_run_id_id":
            index.create(conn, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs, checkpoints, events, llm_calls", _initial_schema),
    Migration(2, "index events by (timestamp, run_id, id) for the all-runs stream",
              _index_events_by_time),
)

_version_metadata = MetaData()
schema_version = Table(
    "schema_version",
    _version_metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

#: key of the PostgreSQL advisory lock held while migrating ("apar")
_PG_LOCK_KEY = 0x61706172
_ATTEMPTS = 3


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return max(m.version for m in migrations)


def current_version(conn: Connection) -> int | None:
    """The database's schema version; None for a database apart never touched."""
    if not inspect(conn).has_table(schema_version.name):
        return None
    return conn.execute(select(func.max(schema_version.c.version))).scalar_one_or_none()


def migrate(
    engine: Engine,
    migrations: Sequence[Migration] = MIGRATIONS,
    metadata: MetaData = tables.metadata,
) -> int:
    """Bring the database to the latest schema version and return that version."""
    latest = latest_version(migrations)
    with engine.connect() as conn:  # fast path: already up to date, no lock taken
        if current_version(conn) == latest:
            return latest
    for attempt in range(_ATTEMPTS):
        try:
            return _migrate_locked(engine, migrations, metadata)
        except DBAPIError:
            # lost a creation race the lock did not cover: re-check, retry
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _migrate_locked(engine: Engine, migrations: Sequence[Migration], metadata: MetaData) -> int:
    latest = latest_version(migrations)
    with writing(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        current = current_version(conn)
        if current is None:
            metadata.create_all(conn)
            _version_metadata.create_all(conn)
            newest = max(migrations, key=lambda m: m.version)
            _stamp(conn, latest, f"new database: {newest.description}")
            return latest
        _refuse_newer(engine, current, latest)
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version > current:
                migration.apply(conn)
                _stamp(conn, migration.version, migration.description)
    return latest


def _refuse_newer(engine: Engine, current: int, latest: int) -> None:
    if current > latest:
        where = engine.url.render_as_string(hide_password=True)
        raise ConfigError(
            f"database schema version {current} is newer than this apart understands "
            f"({latest}); upgrade apart (database: {where})"
        )


def _stamp(conn: Connection, version: int, description: str) -> None:
    conn.execute(
        insert(schema_version).values(
            version=version, description=description[:200], applied_at=datetime.now(UTC)
        )
    )

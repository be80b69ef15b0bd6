"""Opening the database: connection set-up, schema migrations and errors the operator can fix."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import OperationalError

from apart.errors import ConfigError
from apart.runs.database import open_engine, safe_url, sqlite_url
from apart.runs.migrations import (
    MIGRATIONS,
    Migration,
    current_version,
    latest_version,
    migrate,
    schema_version,
)
from apart.runs.records import NewRun
from apart.runs.sqlstore import SqlRunStore


def versions(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(schema_version.c.version).order_by("version")).scalars())


# -- migrations (both databases) ----------------------------------------------------------


def test_a_fresh_database_gets_every_table_and_is_stamped_at_the_latest_version(
    engine: Engine,
) -> None:
    with engine.connect() as conn:
        assert current_version(conn) == latest_version()
        tables = set(inspect(conn).get_table_names())
    assert {"runs", "checkpoints", "events", "llm_calls", "schema_version"} <= tables
    assert versions(engine) == [latest_version()]


def test_reopening_an_up_to_date_database_changes_nothing(store_url: str, engine: Engine) -> None:
    SqlRunStore(engine).create_run(
        NewRun(id="kept", scenario_name="s", scenario_text="t", seed=1, max_steps=1,
               agent_names=[])
    )
    again = open_engine(store_url)
    try:
        assert versions(again) == [latest_version()]
        assert SqlRunStore(again).get_run("kept").id == "kept"
        assert migrate(again) == latest_version()
    finally:
        again.dispose()


def test_a_database_from_a_newer_apart_is_refused_with_a_config_error(
    store_url: str, engine: Engine
) -> None:
    newer = latest_version() + 5
    with engine.begin() as conn:
        conn.execute(schema_version.insert().values(
            version=newer, description="from the future", applied_at=datetime.now(UTC)))
    with pytest.raises(ConfigError, match=(
        f"database schema version {newer} is newer than this apart understands "
        rf"\({latest_version()}\); upgrade apart"
    )):
        open_engine(store_url)


def _add_notes_table(conn: Connection) -> None:
    Table("notes", MetaData(), Column("id", Integer, primary_key=True)).create(conn)


def _add_column_to_notes(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE notes ADD COLUMN body TEXT"))


def test_an_older_database_gets_each_later_migration_in_order(engine: Engine) -> None:
    later = (
        *MIGRATIONS,
        Migration(latest_version() + 2, "notes get a body", _add_column_to_notes),
        Migration(latest_version() + 1, "a notes table", _add_notes_table),
    )
    assert migrate(engine, later) == latest_version() + 2
    assert versions(engine) == [latest_version(), latest_version() + 1, latest_version() + 2]
    with engine.connect() as conn:
        assert [c["name"] for c in inspect(conn).get_columns("notes")] == ["id", "body"]


def test_a_failing_migration_leaves_the_database_at_its_old_version(engine: Engine) -> None:
    def broken(conn: Connection) -> None:
        _add_notes_table(conn)
        raise RuntimeError("migration bug")

    later = (*MIGRATIONS, Migration(latest_version() + 1, "broken", broken))
    with pytest.raises(RuntimeError, match="migration bug"):
        migrate(engine, later)
    assert versions(engine) == [latest_version()]
    with engine.connect() as conn:
        assert not inspect(conn).has_table("notes")  # the DDL was rolled back too


# -- SQLite set-up and errors ------------------------------------------------------------


def test_every_sqlite_connection_uses_wal_normal_sync_busy_timeout_and_foreign_keys(
    tmp_path: Path,
) -> None:
    engine = open_engine(sqlite_url(tmp_path))
    try:
        for _ in range(2):
            with engine.connect() as conn:
                conn.invalidate()  # the next checkout is a brand-new connection
            with engine.connect() as conn:
                got = [conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                       for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")]
                assert got == ["wal", 1, 10000, 1]
    finally:
        engine.dispose()
    assert (tmp_path / "apart.db").is_file()


def test_sqlite_url_points_at_apart_db_in_the_data_dir_and_creates_the_dir(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path / "new" / "dir")
    assert url == f"sqlite:///{tmp_path / 'new' / 'dir' / 'apart.db'}"
    open_engine(url).dispose()
    assert (tmp_path / "new" / "dir" / "apart.db").is_file()


def test_a_file_that_is_not_a_sqlite_database_gives_a_config_error_naming_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "apart.db"
    db.write_bytes(b"this is not a database, just some text that is long enough " * 100)
    with pytest.raises(ConfigError) as caught:
        open_engine(sqlite_url(tmp_path))
    message = str(caught.value)
    assert str(db) in message and "move it aside" in message and "APART_DATA_DIR" in message


def test_a_data_dir_that_cannot_be_created_gives_a_config_error_naming_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "afile").write_text("a regular file, so no directory can be made under it")
    data_dir = tmp_path / "afile" / "sub"
    with pytest.raises(ConfigError, match="cannot create the data directory") as caught:
        open_engine(sqlite_url(data_dir))
    assert str(data_dir) in str(caught.value) and "APART_DATA_DIR" in str(caught.value)


def test_a_database_path_that_is_a_directory_gives_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "apart.db").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        open_engine(sqlite_url(tmp_path))


def test_an_in_memory_sqlite_database_works_for_quick_tests() -> None:
    engine = open_engine("sqlite://")
    try:
        store = SqlRunStore(engine)
        store.create_run(NewRun(id="m", scenario_name="s", scenario_text="t", seed=1,
                                max_steps=1, agent_names=[]))
        assert store.count_runs() == 1
    finally:
        engine.dispose()


# -- server databases ----------------------------------------------------------------------


def test_an_unreachable_postgresql_gives_a_config_error_without_the_password() -> None:
    url = "postgresql+psycopg://apart:hunter2@127.0.0.1:1/apart?connect_timeout=2"
    with pytest.raises(ConfigError, match="cannot connect to the database") as caught:
        open_engine(url)
    message = str(caught.value)
    assert "hunter2" not in message and "apart:***@127.0.0.1:1/apart" in message
    assert "APART_DATABASE_URL" in message
    assert isinstance(caught.value.__cause__, OperationalError)


def test_unsupported_or_malformed_database_urls_give_config_errors() -> None:
    with pytest.raises(ConfigError, match="not supported"):
        open_engine("mysql://u:secret@localhost/db")
    with pytest.raises(ConfigError, match="not a valid SQLAlchemy URL"):
        open_engine("::not a url::")
    assert "secret" not in safe_url("postgresql://u:secret@h/db")


@pytest.mark.postgres
def test_a_plain_postgresql_url_uses_the_psycopg_driver(pg_url: str) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    engine = open_engine(plain)
    try:
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(schema_version)).scalar() >= 1
    finally:
        engine.dispose()


def test_a_version_1_database_is_upgraded_with_the_events_time_index(store_url: str) -> None:
    engine = open_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_events_timestamp_run_id_id"))
        conn.execute(schema_version.delete())
        conn.execute(schema_version.insert().values(
            version=1, description="runs, checkpoints, events, llm_calls",
            applied_at=datetime.now(UTC)))
    assert migrate(engine) == 2
    assert versions(engine) == [1, 2]
    names = {ix["name"] for ix in inspect(engine).get_indexes("events")}
    assert "ix_events_timestamp_run_id_id" in names

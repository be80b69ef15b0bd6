"""Fixtures shared by the whole suite.

Databases:

* ``pg_url`` (session): a scratch PostgreSQL database, created for this test
  session and dropped at its end. PostgreSQL is looked for at
  ``APART_TEST_POSTGRES_URL`` or, by default, 127.0.0.1:5432 as ``root`` (then
  ``postgres``). If it is unreachable, tests that need it are skipped — or fail
  when ``APART_REQUIRE_POSTGRES=1`` (CI).
* ``store_url``: a fresh, empty database for one test, parametrized over SQLite
  (a file in ``tmp_path``) and PostgreSQL (a schema of its own in ``pg_url``,
  dropped afterwards; marked ``postgres``).
* ``engine``: ``open_engine(store_url)`` (migrated), disposed afterwards.
* ``store``: a :class:`SqlRunStore` on ``engine``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import URL, Engine, create_engine, make_url
from sqlalchemy.exc import OperationalError

from apart.runs.database import open_engine, sqlite_url
from apart.runs.sqlstore import SqlRunStore

PG_CANDIDATES = (
    "postgresql+psycopg://root@127.0.0.1:5432/test",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
)


def _admin_engine() -> tuple[Engine | None, list[str]]:
    """An AUTOCOMMIT engine on a reachable PostgreSQL, and what failed on the way."""
    override = os.environ.get("APART_TEST_POSTGRES_URL")
    failures: list[str] = []
    for url in (override,) if override else PG_CANDIDATES:
        engine = create_engine(
            url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        try:
            with engine.connect():
                return engine, failures
        except OperationalError as exc:
            reason = " ".join(str(exc.orig).split())
            failures.append(f"{make_url(url).render_as_string()}: {reason}")
            engine.dispose()
    return None, failures


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a scratch PostgreSQL database that lives for the test session."""
    admin, failures = _admin_engine()
    if admin is None:
        reason = "PostgreSQL is unreachable (" + "; ".join(failures) + ")"
        if os.environ.get("APART_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} and APART_REQUIRE_POSTGRES=1", pytrace=False)
        pytest.skip(f"{reason}; set APART_TEST_POSTGRES_URL or start PostgreSQL")
    name = f"apart_test_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def _pg_schemas(pg_url: str) -> Iterator[Engine]:
    """Creates and drops the per-test schemas in ``pg_url``."""
    engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _in_schema(url: str, schema: str) -> URL:
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh empty database for this test (SQLite file, or a PostgreSQL schema)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path_factory.mktemp("data"))
        return
    pg_url: str = request.getfixturevalue("pg_url")
    admin: Engine = request.getfixturevalue("_pg_schemas")
    schema = f"t_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield _in_schema(pg_url, schema).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """The migrated engine on ``store_url``."""
    engine = open_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> SqlRunStore:
    return SqlRunStore(engine)

"""The store's tables, as SQLAlchemy Core (DESIGN §9): runs, checkpoints, events, LLM calls.

The declarations are plain data (no engine, no I/O); :mod:`apart.runs.migrations`
creates them and :mod:`apart.runs.sqlstore` queries them. A change to a table
here needs a new migration in :data:`apart.runs.migrations.MIGRATIONS`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is
    stored as naive UTC text (fixed width, so it sorts in time order) and comes
    back with ``tzinfo=UTC``. Naive datetimes are refused: their zone is unknown.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone-aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: an auto-incrementing 64-bit key (SQLite only auto-increments INTEGER PRIMARY KEY)
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")

#: names for constraints and indexes, so later migrations can refer to them
NAMING_CONVENTION: dict[str, Any] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _run_fk() -> ForeignKey:
    return ForeignKey("runs.id", ondelete="CASCADE")


runs = Table(
    "runs",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("scenario_name", String(200), nullable=False),
    Column("scenario_text", Text, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("max_steps", Integer, nullable=False),
    Column("save_frequency", Integer, nullable=False),
    Column("priority", String(16), nullable=False),
    Column("provider_override", String(200)),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("current_step", Integer),
    Column("pause_reason", String(32)),
    Column("pause_request", String(16)),
    Column("pause_at_step", Integer),
    Column("stop_requested", Boolean, nullable=False),
    Column("error", Text),
    Column("agent_names", JSON, nullable=False),
    Column("usage", JSON, nullable=False),
    Column("danger_count", Integer, nullable=False),
    Column("options", JSON, nullable=False),
    Column("owner", String(255)),
    Column("last_event_id", Integer, nullable=False),
    Column("recoveries", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("paused_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    # listing newest first, with and without a status filter (keyset pagination)
    Index(None, "created_at", "id"),
    Index(None, "status", "created_at", "id"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("run_id", String(200), _run_fk(), primary_key=True),
    Column("step", Integer, primary_key=True, autoincrement=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("run_id", String(200), _run_fk(), primary_key=True),
    # per-run sequence from 1 without gaps, allocated from runs.last_event_id
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("event_type", String(64), nullable=False),
    Column("step", Integer),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    # the all-runs stream replays every run's events in this order (migration 2)
    Index("ix_events_timestamp_run_id_id", "timestamp", "run_id", "id"),
)

llm_calls = Table(
    "llm_calls",
    metadata,
    Column("id", BigIntKey, primary_key=True, autoincrement=True),
    Column("run_id", String(200), _run_fk(), nullable=False),
    Column("step", Integer, nullable=False),
    Column("role_name", String(200), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("provider", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("prompt_hash", String(128), nullable=False),
    Column("response_text", Text, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("error", Text),
    Column("epoch", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "run_id", "step"),
)


#: execution option read by the SQLite ``begin`` hook of :mod:`apart.runs.database`
SQLITE_BEGIN_OPTION = "apart_sqlite_begin"


def writing(engine: Engine) -> Engine:
    """The same engine, but its transactions take the write lock up front on SQLite.

    ``BEGIN IMMEDIATE`` makes a read-then-write transaction wait for other writers
    (``busy_timeout``) instead of failing with "database is locked" when it upgrades
    its read snapshot; other databases ignore the option.
    """
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})

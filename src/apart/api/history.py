"""Events of all runs, in (timestamp, run id, event id) order: the history of ``GET /events``.

The store's own API reads one run's events; the all-runs stream needs to replay
every run's events after a position, and to poll them while Redis is down. This
read-only query belongs in the store (with an index on ``events.timestamp``); it
lives here until the store offers it, behind a one-method protocol.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine, select, tuple_

from apart.runs.records import EventRecord
from apart.runs.tables import events

#: a place in the all-runs order: (timestamp, run id, event id)
Position = tuple[datetime, str, int]


class AllRunsHistory(Protocol):
    def events_after(self, position: Position, limit: int) -> list[EventRecord]: ...


class SqlAllRunsHistory:
    """:class:`AllRunsHistory` on the store's engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def events_after(self, position: Position, limit: int) -> list[EventRecord]:
        order = (events.c.timestamp, events.c.run_id, events.c.id)
        query = select(events).where(tuple_(*order) > position).order_by(*order).limit(limit)
        with self.engine.connect() as conn:
            return [EventRecord(**row._mapping) for row in conn.execute(query)]

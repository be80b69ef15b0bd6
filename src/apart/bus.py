"""Live messages over Redis pub/sub: events as they commit, and control requests.

Redis carries only what is already durable in the database: a lost message is
never lost data. Event subscribers replay history from the store and use Redis
for immediacy; workers poll the run record as a fallback for control requests.

Redis pub/sub ignores database numbers, so every channel is scoped by the
client's db (:func:`scoped`): deployments sharing one Redis server on different
dbs never see each other's messages. Channels, before scoping:

* ``apart:events:<run_id>`` and ``apart:events`` — one JSON event envelope
  (DESIGN §7) per message, published after the transaction that wrote it;
* ``apart:control`` — ``{"run_id": ..., "action": "pause"|"force_pause"|"stop"|
  "resume"}``, published after the request was stored on the run record.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from apart.runs.records import EventRecord

log = logging.getLogger(__name__)

ALL_EVENTS = "apart:events"
CONTROL = "apart:control"


def events_channel(run_id: str) -> str:
    return f"{ALL_EVENTS}:{run_id}"


def scoped(channel: str, client: Any) -> str:
    """``channel`` for the Redis db that ``client`` (sync or asyncio) uses."""
    db = client.connection_pool.connection_kwargs.get("db", 0)
    return f"{channel}@{db}"


def encode_event(record: EventRecord) -> str:
    return json.dumps(record.envelope(), ensure_ascii=False, separators=(",", ":"))


def decode(message: bytes | str) -> dict[str, Any]:
    text = message.decode() if isinstance(message, bytes) else message
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("a bus message must be a JSON object")
    return value


class Publisher(Protocol):
    """What a sync ``redis.Redis`` offers that the bus uses."""

    def publish(self, channel: str, message: str) -> Any: ...


class EventPublisher:
    """An ``on_events`` sink for :class:`~apart.runs.sqlstore.SqlRunStore`.

    Never raises: if Redis is down, live delivery degrades to polling."""

    def __init__(self, redis: Publisher) -> None:
        self.redis = redis

    def __call__(self, records: list[EventRecord]) -> None:
        try:
            for record in records:
                payload = encode_event(record)
                self.redis.publish(scoped(events_channel(record.run_id), self.redis), payload)
                self.redis.publish(scoped(ALL_EVENTS, self.redis), payload)
        except Exception as exc:  # Redis unavailable: subscribers fall back to polling
            log.warning("could not publish %d events live: %s", len(records), exc)


def publish_control(redis: Publisher, run_id: str, action: str) -> None:
    """Tell workers now; the request is already stored on the run record."""
    try:
        redis.publish(scoped(CONTROL, redis), json.dumps({"run_id": run_id, "action": action}))
    except Exception as exc:
        log.warning("could not publish %s for run %s: %s", action, run_id, exc)

"""Live messages stay within their deployment even when Redis servers are shared."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import redis

from apart.bus import ALL_EVENTS, EventPublisher, scoped
from apart.runs.records import EventRecord


def _record() -> EventRecord:
    return EventRecord(id=1, run_id="r", event_type="step_completed", step=0,
                       timestamp=datetime.now(UTC), data={})


def _received(listener: redis.client.PubSub, wait: float = 0.5) -> list[bytes]:
    deadline, got = time.monotonic() + wait, []
    while time.monotonic() < deadline:
        message = listener.get_message(timeout=0.05)
        if message is not None:
            got.append(message["data"])
    return got


def test_events_published_on_one_db_never_reach_listeners_of_another() -> None:
    mine, other = (redis.Redis.from_url(f"redis://127.0.0.1:6379/{db}") for db in (9, 8))
    here = mine.pubsub(ignore_subscribe_messages=True)
    there = other.pubsub(ignore_subscribe_messages=True)
    here.subscribe(scoped(ALL_EVENTS, mine))
    there.subscribe(scoped(ALL_EVENTS, other))
    time.sleep(0.1)
    EventPublisher(mine)([_record()])
    assert len(_received(here)) == 1
    assert _received(there, wait=0.2) == []
    here.close()
    there.close()


def test_a_publisher_without_redis_does_not_raise() -> None:
    EventPublisher(redis.Redis(port=1, socket_connect_timeout=0.2))([_record()])

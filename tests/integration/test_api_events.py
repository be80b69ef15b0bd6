"""Live events over Server-Sent Events (DESIGN §6, §7) from a real server: history
replay after Last-Event-ID, live delivery, no duplicate or gap at the boundary,
pings, clean disconnects, polling without Redis, and the all-runs stream."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from apart.api.history import SqlAllRunsHistory
from apart.api.sse import AllRunsFeed, RunFeed
from apart.bus import events_channel, scoped
from apart.runs import events as ev
from apart.runs.database import open_engine, sqlite_url
from apart.runs.sqlstore import SqlRunStore
from tests.helpers import scenario_text
from tests.helpers import submit as submit_in_store
from tests.integration.test_api_support import (
    DEAD_REDIS_URL,
    TEST_SSE,
    ApiServer,
    api_server,
    new_id,
)

#: the fixtures api, http and redis_db
pytest_plugins = ["tests.integration.test_api_support"]


@dataclass
class Frame:
    id: str | None = None
    event: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None


class SseReader:
    """Parses an ``text/event-stream`` response into frames, one blank line apart."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        self.lines = response.iter_lines()

    def frame(self) -> Frame:
        frame, seen = Frame(), False
        for line in self.lines:
            if line == "":
                if seen:
                    return frame
                continue
            seen = True
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                frame.comments.append(value)
            elif name == "id":
                frame.id = value
            elif name == "event":
                frame.event = value
            elif name == "data":
                frame.data = json.loads(value)
            elif name == "retry":
                frame.retry = int(value)
        raise EOFError("the stream ended")

    def events(self, count: int, runs: set[str] | None = None) -> list[Frame]:
        """The next ``count`` events (of these runs only: Redis channels are shared)."""
        found: list[Frame] = []
        while len(found) < count:
            frame = self.frame()
            if frame.id is not None and (runs is None or frame.data["run_id"] in runs):
                found.append(frame)
        return found

    def until(self, last_id: str) -> list[Frame]:
        found: list[Frame] = []
        while not found or found[-1].id != last_id:
            found += self.events(1)
        return found


@contextmanager
def stream(client: httpx.Client, path: str, **headers: str) -> Iterator[SseReader]:
    with client.stream("GET", path, headers=headers) as response:
        yield SseReader(response)


def new_run(store: SqlRunStore) -> str:
    run_id = new_id()
    submit_in_store(store, scenario_text(steps=2), run_id)
    return run_id


def append(store: SqlRunStore, run_id: str, count: int = 1) -> None:
    """``count`` events in one transaction, published live by the store's on_events."""
    store.append_events(run_id, [ev.event("llm_call", 1, n=i) for i in range(count)])


def wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_run_stream_replays_the_history_after_last_event_id(
    api: ApiServer, http: httpx.Client
) -> None:
    run_id = new_run(api.store)
    append(api.store, run_id, 10)
    with stream(http, f"/api/v1/runs/{run_id}/events") as reader:
        assert reader.frame().retry == TEST_SSE.client_retry_ms
        frames = reader.events(10)
    assert [f.id for f in frames] == [str(i) for i in range(1, 11)]
    assert frames[0].event == "llm_call"
    assert frames[0].data == {**frames[0].data, "id": 1, "run_id": run_id,
                              "event_type": "llm_call", "step": 1, "data": {"n": 0}}

    with stream(http, f"/api/v1/runs/{run_id}/events", **{"Last-Event-ID": "7"}) as reader:
        assert [f.id for f in reader.events(3)] == ["8", "9", "10"]
    with stream(http, f"/api/v1/runs/{run_id}/events?last_event_id=9") as reader:
        assert [f.id for f in reader.events(1)] == ["10"]
    # the header (an EventSource reconnecting) wins over the query of the first connection
    path = f"/api/v1/runs/{run_id}/events?last_event_id=2"
    with stream(http, path, **{"Last-Event-ID": f"{run_id}:8"}) as reader:
        assert [f.id for f in reader.events(2)] == ["9", "10"]
    history = http.get(f"/api/v1/runs/{run_id}/events?follow=false&last_event_id=8")
    assert history.status_code == 200  # the history, then the end of the response
    assert [line for line in history.text.splitlines() if line.startswith("id:")] == [
        "id: 9", "id: 10"]
    bad = http.get(f"/api/v1/runs/{run_id}/events", headers={"Last-Event-ID": "seven"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_request")


def test_live_events_reach_a_listening_client_at_once(
    api: ApiServer, http: httpx.Client
) -> None:
    run_id = new_run(api.store)
    append(api.store, run_id, 2)
    with stream(http, f"/api/v1/runs/{run_id}/events") as reader:
        assert [f.id for f in reader.events(2)] == ["1", "2"]
        for expected in ("3", "4", "5"):
            sent = time.monotonic()
            append(api.store, run_id)
            frame = reader.events(1)[0]
            assert frame.id == expected and frame.data["id"] == int(expected)
            assert time.monotonic() - sent < 0.5


def test_no_event_is_duplicated_or_lost_across_the_history_live_boundary(
    api: ApiServer, http: httpx.Client
) -> None:
    """Clients connect while events are written; each gets every id after its
    Last-Event-ID exactly once, in order, whatever fell into history or live."""
    run_id = new_run(api.store)
    total = 400
    written = threading.Event()

    def writer() -> None:
        for _ in range(total // 2):
            append(api.store, run_id, 2)
            time.sleep(0.001)
        written.set()

    results: dict[int, list[str]] = {}

    def client(after: int) -> None:
        with httpx.Client(base_url=api.url, timeout=10) as own, \
                stream(own, f"/api/v1/runs/{run_id}/events",
                       **{"Last-Event-ID": str(after)}) as reader:
            results[after] = [f.id or "" for f in reader.until(str(total))]

    thread = threading.Thread(target=writer)
    thread.start()
    readers = []
    for after in (30, 0, 150, 250):
        wait_for(lambda after=after: api.store.get_run(run_id).last_event_id >= after + 40)
        readers.append(threading.Thread(target=client, args=(after,)))
        readers[-1].start()
    thread.join(30)
    for reader in readers:
        reader.join(30)
    assert written.is_set()
    for after in (30, 0, 150, 250):
        assert results[after] == [str(i) for i in range(after + 1, total + 1)]


def test_an_idle_stream_sends_keep_alive_pings(tmp_path: Path, redis_db: redis.Redis) -> None:
    fast = dataclasses.replace(TEST_SSE, ping_interval=0.2)
    with api_server(tmp_path, sse=fast) as api:
        run_id = new_run(api.store)
        with stream(api.client(), f"/api/v1/runs/{run_id}/events") as reader:
            reader.frame()  # retry
            started = time.monotonic()
            pings = [reader.frame(), reader.frame()]
        assert all(frame.comments == ["ping"] and frame.id is None for frame in pings)
        assert time.monotonic() - started < 1.5


def test_a_client_that_disconnects_is_unsubscribed_and_forgotten(
    api: ApiServer, http: httpx.Client, redis_db: redis.Redis
) -> None:
    run_id = new_run(api.store)
    channel = scoped(events_channel(run_id), redis_db)

    def subscribers() -> int:
        return int(redis_db.pubsub_numsub(channel)[0][1])

    with stream(http, f"/api/v1/runs/{run_id}/events") as reader:
        reader.frame()
        assert subscribers() == 1 and api.ctx.streams.open == 1
    wait_for(lambda: subscribers() == 0 and api.ctx.streams.open == 0, seconds=3)
    assert api.ctx.streams.served == 1
    assert http.get("/api/health").status_code == 200


def test_without_redis_a_stream_polls_the_store(tmp_path: Path, redis_db: redis.Redis) -> None:
    with api_server(tmp_path, redis_url=DEAD_REDIS_URL) as api:
        run_id = new_run(api.store)
        append(api.store, run_id, 3)
        with stream(api.client(), f"/api/v1/runs/{run_id}/events",
                    **{"Last-Event-ID": "1"}) as reader:
            assert [f.id for f in reader.events(2)] == ["2", "3"]
            append(api.store, run_id, 2)
            assert [f.id for f in reader.events(2)] == ["4", "5"]


def test_a_stream_that_loses_its_redis_connection_misses_nothing(
    api: ApiServer, http: httpx.Client, redis_db: redis.Redis
) -> None:
    run_id = new_run(api.store)
    with stream(http, f"/api/v1/runs/{run_id}/events") as reader:
        reader.frame()
        append(api.store, run_id)
        assert [f.id for f in reader.events(1)] == ["1"]
        for client in redis_db.client_list():
            if client["name"] == api.redis_client_name:
                redis_db.client_kill_filter(_id=client["id"])
        for _ in range(4):
            append(api.store, run_id)
        assert [f.id for f in reader.events(4)] == ["2", "3", "4", "5"]
        append(api.store, run_id)
        assert [f.id for f in reader.events(1)] == ["6"]


def test_the_all_runs_stream_carries_every_run_and_resumes_after_its_last_id(
    api: ApiServer, http: httpx.Client
) -> None:
    first, second = new_run(api.store), new_run(api.store)
    ours = {first, second}
    with stream(http, "/api/v1/events") as reader:
        reader.frame()
        for run_id in (first, second, first, second):
            append(api.store, run_id)
        frames = reader.events(4, ours)
    assert [f.id for f in frames] == [f"{first}:1", f"{second}:1", f"{first}:2", f"{second}:2"]
    assert frames[0].data["run_id"] == first and frames[0].event == "llm_call"

    append(api.store, second)  # while no one listens
    append(api.store, first)
    with stream(http, "/api/v1/events", **{"Last-Event-ID": frames[-1].id or ""}) as reader:
        assert [f.id for f in reader.events(2, ours)] == [f"{second}:3", f"{first}:3"]
        append(api.store, first)
        assert [f.id for f in reader.events(1, ours)] == [f"{first}:4"]
    bad = http.get("/api/v1/events", headers={"Last-Event-ID": "17"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_request")


@pytest.mark.parametrize("path", ["/api/v1/runs/{run}/events", "/api/v1/events"])
def test_a_stream_without_redis_from_the_start_still_replays_and_follows(
    tmp_path: Path, redis_db: redis.Redis, path: str
) -> None:
    with api_server(tmp_path, redis_url=DEAD_REDIS_URL) as api:
        run_id = new_run(api.store)
        append(api.store, run_id, 2)
        last = "1" if "{run}" in path else f"{run_id}:1"
        with stream(api.client(), path.format(run=run_id), **{"Last-Event-ID": last}) as reader:
            assert reader.events(1)[0].data["id"] == 2
            append(api.store, run_id)
            assert reader.events(1)[0].data["id"] == 3


def test_a_feed_drops_duplicates_and_fills_gaps_from_the_store(tmp_path: Path) -> None:
    """Live messages may come twice, late, or not at all: the store has every event."""
    store = SqlRunStore(open_engine(sqlite_url(tmp_path)))
    first, second = new_run(store), new_run(store)
    append(store, first, 5)
    append(store, second, 3)
    one = [r.envelope() for r in store.events(first)]
    two = [r.envelope() for r in store.events(second)]

    async def run_feed() -> None:
        feed = RunFeed(store, first, after=1, batch=50)
        assert await feed.admit(one[0]) == []  # already sent
        assert [e["id"] for e in await feed.admit(one[3])] == [2, 3, 4]  # 2 and 3 lost
        assert await feed.admit(one[2]) == []  # overtaken, arrives late
        assert await feed.admit(two[0]) == []  # another run's
        assert [e["id"] for e in await feed.admit(one[4])] == [5]

    async def all_runs_feed() -> None:
        start = (store.events(first)[0].timestamp, first, 1)
        feed = AllRunsFeed(store, SqlAllRunsHistory(store.engine), start, 50, {first: 1})
        assert [(e["run_id"], e["id"]) for e in await feed.admit(one[2])] == [
            (first, 2), (first, 3)]
        assert await feed.admit(one[1]) == []
        # the first sight of a run: its earlier events since the position come too
        assert [e["id"] for e in await feed.admit(two[1])] == [1, 2]
        caught_up = [(e["run_id"], e["id"]) async for page in feed.catch_up() for e in page]
        assert caught_up == [(first, 4), (first, 5), (second, 3)]

    asyncio.run(run_feed())
    asyncio.run(all_runs_feed())
    store.engine.dispose()

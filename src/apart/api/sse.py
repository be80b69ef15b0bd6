"""Server-Sent Events over the durable event log and Redis pub/sub (DESIGN §6, §7).

A stream subscribes to Redis *first* (and waits for the confirmation), then
replays the history from the store, then forwards live messages. A *feed*
remembers what the client has been sent and turns each live message into what
to send: nothing for a duplicate, the message, or — when ids were skipped — the
missing events read back from the store. So the client sees every event once,
in order, across the boundary between history and live events.

* ``GET /api/v1/runs/{id}/events``: ``id:`` is the run's event id (1, 2, 3…).
  It stays open after the run ends (a run may be resumed): a client that wants
  to stop there watches for a final event (``simulation_completed``…) and checks
  the run's status. ``?follow=false`` sends the history and ends.
* ``GET /api/v1/events``: ``id:`` is ``<run_id>:<event id>``; replay after one
  continues with the events stored after it in (timestamp, run id, event id)
  order — see :mod:`apart.api.history`. Per run, order and uniqueness hold as
  above; across runs the order is the timestamps', so an event whose commit
  lagged its timestamp by more than the client's reconnection may be missed on
  replay (each envelope names its run and per-run id: a client can check).

Without Redis (down at connect time or lost mid-stream) a stream reads the
store every ``poll_interval`` and tries Redis again every ``retry_interval``.
While live, it also reads the store every ``resync_interval`` (a message lost
by Redis is still delivered). A ``: ping`` comment goes out after
``ping_interval`` of silence. A client that disconnects cancels its stream; the
subscription is closed (shielded from the cancellation) and the open-stream
count goes down. When the server stops, streams end within a ``_TICK``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

import anyio
from fastapi import Request
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from apart.api.context import ApiContext
from apart.api.history import AllRunsHistory, Position
from apart.bus import ALL_EVENTS, decode, events_channel, scoped
from apart.runs.records import EventRecord, RunStore

log = logging.getLogger(__name__)

Envelope = dict[str, Any]
Pages = AsyncIterator[list[Envelope]]
PING = b": ping\n\n"
#: how long a stream waits at most before looking at the clock and the client again
_TICK = 0.25


def frame(sse_id: str, envelope: Envelope) -> bytes:
    """One SSE event: ``id``, ``event`` (the event type) and the JSON envelope."""
    name = str(envelope.get("event_type", "message")).replace("\r", " ").replace("\n", " ")
    data = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    return f"id: {sse_id}\nevent: {name}\ndata: {data}\n\n".encode()


class Feed(Protocol):
    """What one stream has sent, and what to send next."""

    channel: str

    def sse_id(self, envelope: Envelope) -> str: ...

    def catch_up(self) -> Pages:
        """Events in the store the client has not been sent, a page at a time."""
        ...

    async def admit(self, envelope: Envelope) -> list[Envelope]:
        """What to send for a live message: [], [it], or the events up to it."""
        ...


def _envelope(message: Any) -> Envelope | None:
    """A live message's envelope, or None if it is not one."""
    try:
        envelope = decode(message)
    except (ValueError, UnicodeDecodeError):
        return None
    ok = isinstance(envelope.get("run_id"), str) and isinstance(envelope.get("id"), int)
    return envelope if ok else None


class RunFeed:
    """One run's events; the client's position is the last event id it was sent."""

    def __init__(self, store: RunStore, run_id: str, after: int, batch: int) -> None:
        self.store = store
        self.run_id = run_id
        self.last = after
        self.batch = batch
        self.channel = events_channel(run_id)

    def sse_id(self, envelope: Envelope) -> str:
        return str(envelope["id"])

    async def catch_up(self) -> Pages:
        while True:
            records = await run_in_threadpool(self.store.events, self.run_id, self.last,
                                              self.batch)
            if records:
                self.last = records[-1].id
                yield [r.envelope() for r in records]
            if len(records) < self.batch:
                return

    async def admit(self, envelope: Envelope) -> list[Envelope]:
        event_id: int = envelope["id"]
        if envelope["run_id"] != self.run_id or event_id <= self.last:
            return []
        if event_id == self.last + 1:
            self.last = event_id
            return [envelope]
        # ids were skipped (a message lost or overtaken): the store has them all
        records = await run_in_threadpool(self.store.events, self.run_id, self.last,
                                          event_id - self.last)
        if records:
            self.last = records[-1].id
        return [r.envelope() for r in records]


class AllRunsFeed:
    """Every run's events. The client's position is the last event id sent per run
    (all below it were sent too) and the place in the all-runs order up to which
    the store has been read; live messages never move the latter, so a store read
    also recovers a message lost before a later one of another run arrived."""

    channel = ALL_EVENTS

    def __init__(self, store: RunStore, history: AllRunsHistory | None, start: Position,
                 batch: int, sent: dict[str, int] | None = None) -> None:
        self.store = store
        self.history = history
        self.position = start
        self.batch = batch
        self.sent: dict[str, int] = dict(sent or {})

    def sse_id(self, envelope: Envelope) -> str:
        return f"{envelope['run_id']}:{envelope['id']}"

    async def catch_up(self) -> Pages:
        if self.history is None:
            return
        while True:
            records: list[EventRecord] = await run_in_threadpool(
                self.history.events_after, self.position, self.batch)
            if records:
                last = records[-1]
                self.position = (last.timestamp, last.run_id, last.id)
            fresh = self._unsent(records)
            if fresh:
                yield fresh
            if len(records) < self.batch:
                return

    async def admit(self, envelope: Envelope) -> list[Envelope]:
        run_id, event_id = envelope["run_id"], envelope["id"]
        known = self.sent.get(run_id)
        if known is not None and event_id <= known:
            return []
        # a run seen for the first time: its events since the position may precede this one
        after = known if known is not None else max(0, event_id - 1 - self.batch)
        if event_id == after + 1:
            return self._unsent_envelopes([envelope])
        records = await run_in_threadpool(self.store.events, run_id, after, event_id - after)
        if known is None:
            records = [r for r in records if (r.timestamp, r.run_id, r.id) > self.position]
        return self._unsent(records)

    def _unsent(self, records: list[EventRecord]) -> list[Envelope]:
        return self._unsent_envelopes([r.envelope() for r in records])

    def _unsent_envelopes(self, envelopes: list[Envelope]) -> list[Envelope]:
        out = []
        for envelope in envelopes:
            run_id, event_id = envelope["run_id"], envelope["id"]
            if event_id > self.sent.get(run_id, 0):
                self.sent[run_id] = event_id
                out.append(envelope)
        return out


class EventStream:
    """The bytes of one SSE response: history, then live events, pings between."""

    def __init__(self, feed: Feed, ctx: ApiContext, request: Request,
                 follow: bool = True) -> None:
        self.feed = feed
        self.follow = follow
        self.ctx = ctx
        self.redis = ctx.redis_async
        self.options = ctx.sse
        self.counter = ctx.streams
        self.request = request
        self.sub: Any = None
        now = time.monotonic()
        self.last_write = now
        self.next_resync = now + self._resync_delay()
        self.next_retry = now
        self.next_disconnect_check = now

    async def body(self) -> AsyncIterator[bytes]:
        self.counter.opened()
        try:
            if self.follow:
                await self._subscribe()
            yield f"retry: {self.options.client_retry_ms}\n\n".encode()
            async for chunk in self._catch_up():
                yield chunk
            while self._going_on() and not await self._client_gone():
                async for chunk in self._next():
                    yield chunk
                if time.monotonic() - self.last_write >= self.options.ping_interval:
                    self.last_write = time.monotonic()
                    yield PING
        finally:
            with anyio.CancelScope(shield=True):
                await self._unsubscribe()
            self.counter.closed()

    async def _client_gone(self) -> bool:
        """Asked at most once a second: the check costs real CPU with many streams
        (and Starlette cancels a stream whose client left anyway)."""
        now = time.monotonic()
        if now < self.next_disconnect_check:
            return False
        self.next_disconnect_check = now + 1.0
        return bool(await self.request.is_disconnected())

    def _resync_delay(self) -> float:
        """Jittered, so that streams opened together do not all read the store at once."""
        return self.options.resync_interval * random.uniform(0.75, 1.25)

    def _going_on(self) -> bool:
        return self.follow and not self.ctx.shutting_down

    # -- what to send --------------------------------------------------------------------

    def _frames(self, envelopes: list[Envelope]) -> bytes:
        self.last_write = time.monotonic()
        return b"".join(frame(self.feed.sse_id(e), e) for e in envelopes)

    async def _catch_up(self) -> AsyncIterator[bytes]:
        self.next_resync = time.monotonic() + self._resync_delay()
        async for page in self.feed.catch_up():
            yield self._frames(page)

    async def _next(self) -> AsyncIterator[bytes]:
        """Wait (at most until the next ping is due) and send what arrived."""
        if self.sub is None:
            await anyio.sleep(self._wait(self.options.poll_interval))
            if time.monotonic() >= self.next_retry:
                await self._subscribe()
            async for chunk in self._catch_up():
                yield chunk
            return
        try:
            message = await self.sub.get_message(ignore_subscribe_messages=True,
                                                 timeout=self._wait(_TICK))
        except (RedisError, OSError) as exc:
            log.warning("event stream lost Redis (%s); reading the store instead", exc)
            await self._unsubscribe()
            self.next_retry = time.monotonic() + self.options.retry_interval
            message = None
        envelope = _envelope(message["data"]) if message else None
        if envelope is not None:
            admitted = await self.feed.admit(envelope)
            if admitted:
                yield self._frames(admitted)
        if self.sub is None or time.monotonic() >= self.next_resync:
            async for chunk in self._catch_up():
                yield chunk

    def _wait(self, limit: float) -> float:
        until_ping = self.options.ping_interval - (time.monotonic() - self.last_write)
        return max(0.0, min(limit, until_ping, _TICK))

    # -- Redis ---------------------------------------------------------------------------

    async def _subscribe(self) -> None:
        """Subscribe and wait until Redis confirms it; on failure, poll the store."""
        if self.redis is None:
            self.next_retry = float("inf")
            return
        sub = self.redis.pubsub()
        try:
            await sub.subscribe(scoped(self.feed.channel, self.redis))
            with anyio.fail_after(5):
                while True:
                    message = await sub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "subscribe":
                        break
        except (RedisError, OSError, TimeoutError) as exc:
            log.info("event stream without Redis (%s); polling the store", exc)
            with anyio.CancelScope(shield=True):
                await sub.aclose()
            self.next_retry = time.monotonic() + self.options.retry_interval
            return
        self.sub = sub

    async def _unsubscribe(self) -> None:
        sub, self.sub = self.sub, None
        if sub is not None:
            try:
                await sub.aclose()
            except (RedisError, OSError) as exc:
                log.debug("closing a subscription: %s", exc)


class EventStreamResponse(StreamingResponse):
    """``text/event-stream``, not cached or buffered by proxies; the body is closed
    (its subscription released) however the response ends."""

    media_type = "text/event-stream"

    def __init__(self, body: AsyncIterator[bytes], status_code: int = 200) -> None:
        super().__init__(body, status_code=status_code,
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(self._body, "aclose", None)
                if aclose is not None:
                    await aclose()

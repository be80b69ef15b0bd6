"""What every route needs, built once by the app factory and kept on ``app.state.apart``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from apart.api.history import AllRunsHistory
from apart.config import Settings
from apart.runs.records import RunStore


@dataclass(frozen=True)
class SseOptions:
    """Timings of the event streams (seconds); tests shorten them."""

    #: a ``: ping`` comment after this long without sending anything
    ping_interval: float = 15.0
    #: how often the store is read while Redis is unavailable
    poll_interval: float = 0.2
    #: how often a live stream reads the store anyway, to catch a lost message
    resync_interval: float = 5.0
    #: how often a polling stream tries to subscribe to Redis again
    retry_interval: float = 5.0
    #: events read from the store per query
    batch: int = 500
    #: the ``retry:`` (milliseconds) suggested to reconnecting clients
    client_retry_ms: int = 2000


@dataclass
class StreamCounter:
    """Open event streams, for the health report and for tests of clean disconnects."""

    open: int = 0
    served: int = 0

    def opened(self) -> None:
        self.open += 1
        self.served += 1

    def closed(self) -> None:
        self.open -= 1


@dataclass
class ApiContext:
    settings: Settings
    store: RunStore
    #: a sync ``redis.Redis`` (RQ queues, publishing control messages)
    redis_sync: Any
    #: a ``redis.asyncio.Redis`` (event subscriptions)
    redis_async: Any
    #: every run's events in order (replay and polling of ``GET /events``), if available
    history: AllRunsHistory | None = None
    sse: SseOptions = field(default_factory=SseOptions)
    streams: StreamCounter = field(default_factory=StreamCounter)
    #: set when the server begins to stop: open event streams end (their clients
    #: reconnect with Last-Event-ID), so stopping does not wait for them
    shutting_down: bool = False


async def get_context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.apart
    return ctx


Ctx = Annotated[ApiContext, Depends(get_context)]

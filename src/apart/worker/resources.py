"""What a worker process works with, built once from the settings.

A worker (``apart worker``) opens these once and reuses them for every job; a
job run by a plain ``rq worker`` opens them for itself from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apart.bus import EventPublisher
from apart.config import Settings
from apart.runs.database import open_engine
from apart.runs.sqlstore import SqlRunStore

if TYPE_CHECKING:
    from redis import Redis

#: seconds to wait for a TCP connection to Redis before giving up on this attempt
REDIS_CONNECT_TIMEOUT_S = 5.0
#: seconds a command (a publish, an enqueue) may take before it counts as failed
REDIS_COMMAND_TIMEOUT_S = 5.0
#: an idle connection is checked with PING before use after this many seconds
REDIS_HEALTH_CHECK_S = 30


def connect_redis(url: str, command_timeout: float | None = REDIS_COMMAND_TIMEOUT_S) -> Redis:
    """A Redis client that notices a restarted or vanished server.

    Connecting is bounded, and so are commands unless ``command_timeout`` is None
    (RQ's own connection blocks on BLPOP for minutes and sets its own timeout):
    a partitioned Redis then costs a run a few seconds, never a stall."""
    from redis import Redis

    return Redis.from_url(
        url,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        socket_timeout=command_timeout,
        socket_keepalive=True,
        health_check_interval=REDIS_HEALTH_CHECK_S,
    )


@dataclass
class WorkerResources:
    settings: Settings
    store: SqlRunStore
    #: for live events, control messages, recovery and queueing jobs (bounded commands)
    redis: Redis
    #: concurrency limits per provider, shared by every run this worker executes
    pool: Any = None

    def close(self) -> None:
        self.store.engine.dispose()
        self.redis.close()


def open_resources(settings: Settings) -> WorkerResources:
    """The store (events published live on Redis) and Redis for ``settings``.

    Raises :class:`apart.errors.ConfigError` when the database cannot be used;
    Redis is only contacted when first needed, so a worker can start before it."""
    redis = connect_redis(settings.redis_url)
    try:
        engine = open_engine(settings.resolved_database_url())
    except BaseException:
        redis.close()
        raise
    store = SqlRunStore(engine, on_events=EventPublisher(redis))
    from apart.llm.limits import ProviderPool

    return WorkerResources(settings=settings, store=store, redis=redis, pool=ProviderPool())

"""``/api/health`` (liveness) and ``/api/health/detailed`` (database, Redis, workers,
queue depths). Both stay open when a token is set, and both answer 200: a part
that is down shows as ``unavailable`` with the reason, and the whole as
``degraded``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from apart.api.context import Ctx
from apart.api.models import Health, Liveness
from apart.worker.queue import LISTEN_ORDER

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Liveness)
async def health() -> dict[str, Any]:
    """The server answers."""
    return {"status": "ok"}


@router.get("/health/detailed", response_model=Health)
def health_detailed(ctx: Ctx) -> dict[str, Any]:
    """What the server depends on, each ``ok`` or ``unavailable`` (with the reason)."""
    from rq import Queue, Worker

    redis = ctx.redis_sync
    database = _check(lambda: {"runs": ctx.store.count_runs()})
    broker = _check(lambda: {"ping": bool(redis.ping())})
    if broker["status"] == "ok":
        workers = _check(lambda: {"count": len(Worker.all(connection=redis))})
        queues = _check(lambda: {"depths": {name: Queue(name, connection=redis).count
                                            for name in LISTEN_ORDER}})
    else:
        workers = queues = {"status": "unavailable", "detail": "Redis is unavailable"}
    parts = (database, broker, workers, queues)
    return {
        "status": "ok" if all(p["status"] == "ok" for p in parts) else "degraded",
        "database": database,
        "redis": broker,
        "workers": workers,
        "queues": queues,
        "streams": {"open": ctx.streams.open, "served": ctx.streams.served},
    }


def _check(probe: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return {"status": "ok", **probe()}
    except Exception as exc:  # a health report names every failure, it never fails itself
        return {"status": "unavailable", "detail": f"{type(exc).__name__}: {exc}"}

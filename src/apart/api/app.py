"""The app factory: everything the API uses is passed in, nothing is built at import.

``create_app(settings, store, redis_sync, redis_async)`` keeps its resources on
``app.state.apart`` (:class:`apart.api.context.ApiContext`) and installs the
routes, the one error shape, the body size limit and bearer auth (on
``/api/v1`` when ``settings.api_token`` is set). The caller owns the resources;
``on_shutdown`` lets it release them when the server stops (see
:mod:`apart.api.serve`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from apart.api import routes_events, routes_health, routes_runs
from apart.api.context import ApiContext, SseOptions
from apart.api.errors import install_error_handlers
from apart.api.history import AllRunsHistory, SqlAllRunsHistory
from apart.api.limits import MAX_BODY_BYTES, BodySizeLimit
from apart.config import Settings
from apart.dashboard import router as dashboard_router
from apart.runs.records import RunStore
from apart.runs.sqlstore import SqlRunStore

DESCRIPTION = """\
Multi-agent LLM simulations as durable, pausable jobs.

Submit a scenario as a run, watch its events live (Server-Sent Events), pause,
resume, stop and inspect it. Every error is `{"detail": "<sentence>", "code":
"<machine_code>"}`. When the server has `APART_API_TOKEN` set, every `/api/v1`
call needs `Authorization: Bearer <token>`.
"""


def create_app(
    settings: Settings,
    store: RunStore,
    redis_sync: Any,
    redis_async: Any,
    *,
    sse: SseOptions | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    """The API on these resources.

    ``redis_sync`` is a ``redis.Redis`` (queues, control messages; with
    ``decode_responses=False``, as RQ needs), ``redis_async`` a
    ``redis.asyncio.Redis`` for event subscriptions (None: streams poll the store).
    """
    ctx = ApiContext(settings=settings, store=store, redis_sync=redis_sync,
                     redis_async=redis_async, history=_history(store),
                     sse=sse or SseOptions())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if on_shutdown is not None:
            await on_shutdown()

    app = FastAPI(title="apart", version=_version(), description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.apart = ctx
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.include_router(routes_runs.router)
    app.include_router(routes_events.router)
    app.include_router(routes_health.router)
    app.include_router(dashboard_router)
    if not settings.api_token:
        _document_no_auth(app)
    return app


def _document_no_auth(app: FastAPI) -> None:
    """Without a token the server asks for no auth: the schema must not say it does."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.get("components", {}).pop("securitySchemes", None)
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.pop("security", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("apart")
    except PackageNotFoundError:
        return "0+unknown"


def _history(store: RunStore) -> AllRunsHistory | None:
    """The all-runs history query, when the store is one it can read."""
    return SqlAllRunsHistory(store.engine) if isinstance(store, SqlRunStore) else None

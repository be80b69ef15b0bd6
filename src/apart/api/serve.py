"""``apart-server`` (and ``apart server``): build the resources, then serve the API.

:func:`serve` opens the database (migrated; a :class:`~apart.errors.ConfigError`
that says what to fix if it is unusable), the Redis clients, and a store that
publishes every committed event live, then runs uvicorn on ``APART_HOST`` and
``APART_PORT`` (``127.0.0.1:8000``). Redis being down at start is not fatal: the
health report says so, submissions answer 503 and event streams poll the store.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import logging
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from apart.api.app import create_app
from apart.bus import EventPublisher
from apart.config import Settings
from apart.errors import ConfigError
from apart.runs.database import open_engine
from apart.runs.sqlstore import SqlRunStore

log = logging.getLogger("apart.api")

#: seconds for open requests (event streams) to finish when the server stops
GRACEFUL_SHUTDOWN_S = 3


def build_app(settings: Settings) -> FastAPI:
    """The API on the database and Redis named by ``settings``."""
    import redis
    import redis.asyncio

    try:
        redis_sync = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2,
                                          socket_timeout=5)
        redis_async = redis.asyncio.Redis.from_url(settings.redis_url, socket_connect_timeout=2,
                                                   health_check_interval=15)
    except ValueError as exc:
        raise ConfigError(f"APART_REDIS_URL={settings.redis_url!r} is not a Redis URL ({exc}); "
                          "use one like redis://127.0.0.1:6379/0") from exc
    engine = open_engine(settings.resolved_database_url())
    store = SqlRunStore(engine, on_events=EventPublisher(redis_sync))

    async def close() -> None:
        await redis_async.aclose()
        redis_sync.close()
        engine.dispose()

    return create_app(settings, store, redis_sync, redis_async, on_shutdown=close)


class Server(uvicorn.Server):
    """uvicorn, telling the app when it begins to stop, so that open event streams end
    at once instead of holding the shutdown until its timeout."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.app: Any = config.app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        ctx = getattr(getattr(self.app, "state", None), "apart", None)
        if ctx is not None:
            ctx.shutting_down = True
        super().handle_exit(sig, frame)


def serve(settings: Settings | None = None) -> None:
    """Serve until interrupted. Raises ConfigError when the settings or database are unusable."""
    settings = settings if settings is not None else Settings.load()
    app = build_app(settings)
    if settings.api_token is None and not _loopback(settings.host):
        log.warning("listening on %s without APART_API_TOKEN: anyone who reaches this port "
                    "can start, stop and delete runs", settings.host)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info",
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    Server(config).run()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> None:
    """The ``apart-server`` command."""
    parser = argparse.ArgumentParser(
        prog="apart-server",
        description="Serve the apart REST API (settings from APART_* variables or .env).")
    parser.add_argument("--host", help="address to listen on (default: $APART_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: $APART_PORT or 8000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    try:
        settings = Settings.load()
        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        serve(dataclasses.replace(settings, **overrides))
    except ConfigError as exc:
        print(f"apart-server: error: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()

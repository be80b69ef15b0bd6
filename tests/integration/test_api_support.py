"""Fixtures of the API tests: a real uvicorn server on a free port, in a thread.

The server's store is SQLite in ``tmp_path`` (or the PostgreSQL database of
``store_url``) and publishes its events on Redis db 14, which is flushed around
every test. Tests reach the same store directly, to play runs in-process as a
worker would, and to write events while a client listens. No tests here.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio
import uvicorn
from fastapi import FastAPI

from apart.api.app import create_app
from apart.api.context import ApiContext, SseOptions
from apart.api.serve import Server
from apart.bus import EventPublisher
from apart.config import Settings
from apart.runs.database import open_engine, sqlite_url
from apart.runs.sqlstore import SqlRunStore
from tests.helpers import scenario_text

REDIS_URL = "redis://127.0.0.1:6379/14"
#: nothing listens there: Redis "down"
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"
#: stream timings for tests: prompt polling, no pings unless a test asks
TEST_SSE = SseOptions(ping_interval=30.0, poll_interval=0.05, resync_interval=1.0,
                      retry_interval=0.5, batch=50)


@dataclass
class ApiServer:
    url: str
    app: FastAPI
    store: SqlRunStore
    settings: Settings
    scenarios_dir: Path
    #: the name of the server's async Redis connections (CLIENT LIST), to cut them in tests
    redis_client_name: str
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def ctx(self) -> ApiContext:
        ctx: ApiContext = self.app.state.apart
        return ctx

    def client(self, token: str | None = None, timeout: float = 10.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self.clients.append(client)
        return client


def new_id(prefix: str = "run") -> str:
    """Run ids unique across test sessions (Redis channels are shared by all databases)."""
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclass
class Running:
    """A server running in a thread."""

    url: str
    server: Server
    thread: threading.Thread

    def stop(self) -> None:
        """Stop as on SIGTERM (open event streams end) and wait for the thread."""
        if self.thread.is_alive():
            self.server.handle_exit(signal.SIGTERM, None)
            self.thread.join(10)


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[Running]:
    """Run ``app`` on uvicorn (apart's Server) in a thread until the block ends."""
    # proto IPPROTO_TCP, so that asyncio sets TCP_NODELAY on accepted connections
    # (with proto 0 it does not, and Nagle + delayed ACKs add 40 ms to every response)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=1)
    server = Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    running = Running(url=f"http://127.0.0.1:{port}", server=server, thread=thread)
    try:
        yield running
    finally:
        running.stop()
        sock.close()


def write_scenarios(root: Path) -> Path:
    """A scenarios directory with tiny.yaml, a subdirectory, and a symlink leading out."""
    scenarios = root / "scenarios"
    (scenarios / "team").mkdir(parents=True)
    (scenarios / "tiny.yaml").write_text(scenario_text(steps=2), encoding="utf-8")
    (scenarios / "team" / "race.yml").write_text(scenario_text(steps=3), encoding="utf-8")
    (scenarios / "notes.txt").write_text("not a scenario", encoding="utf-8")
    secret = root / "secret.yaml"
    secret.write_text(scenario_text(steps=2), encoding="utf-8")
    (scenarios / "escape.yaml").symlink_to(secret)
    return scenarios


@contextlib.contextmanager
def api_server(tmp_path: Path, *, database_url: str | None = None, token: str | None = None,
               redis_url: str = REDIS_URL, sse: SseOptions = TEST_SSE,
               max_body_bytes: int | None = None) -> Iterator[ApiServer]:
    scenarios = write_scenarios(tmp_path)
    settings = Settings(data_dir=tmp_path, redis_url=redis_url, api_token=token,
                        scenarios_dir=scenarios, heartbeat_timeout=15.0)
    engine = open_engine(database_url or sqlite_url(tmp_path))
    redis_sync = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=5)
    client_name = new_id("apart-api-test")
    redis_async = redis.asyncio.Redis.from_url(redis_url, socket_connect_timeout=1,
                                               client_name=client_name)
    store = SqlRunStore(engine, on_events=EventPublisher(redis_sync))

    async def close() -> None:
        await redis_async.aclose()

    extra: dict[str, Any] = {} if max_body_bytes is None else {"max_body_bytes": max_body_bytes}
    app = create_app(settings, store, redis_sync, redis_async, sse=sse, on_shutdown=close,
                     **extra)
    try:
        with serving(app) as running:
            server = ApiServer(url=running.url, app=app, store=store, settings=settings,
                               scenarios_dir=scenarios, redis_client_name=client_name)
            try:
                yield server
            finally:  # before the server stops, so that it need not wait for them
                for client in server.clients:
                    client.close()
    finally:
        redis_sync.close()
        engine.dispose()


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    """Redis db 14, empty at the start and the end of the test."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"Redis is unreachable at {REDIS_URL}: {exc}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def api(tmp_path: Path, redis_db: redis.Redis) -> Iterator[ApiServer]:
    with api_server(tmp_path) as server:
        yield server


@pytest.fixture
def http(api: ApiServer) -> httpx.Client:
    return api.client()


def queued_run_ids(redis_db: redis.Redis, queue: str = "simulations") -> list[str]:
    """The run ids of the jobs waiting in an RQ queue, oldest first."""
    from rq import Queue

    return [str(job.args[0]) for job in Queue(queue, connection=redis_db).get_jobs()]


def submit(http: httpx.Client, run_id: str, **body: Any) -> dict[str, Any]:
    payload = {"scenario": scenario_text(steps=3), "run_id": run_id, **body}
    response = http.post("/api/v1/runs", json=payload)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result

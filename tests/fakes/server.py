"""A fake LLM vendor on 127.0.0.1: one small Starlette app, run by uvicorn in a
thread, that speaks OpenAI chat completions, Anthropic messages, Gemini
generateContent (v1 and v1beta) and Ollama chat (see :mod:`tests.fakes.dialects`).

Tests script it: queue :class:`Reply` objects (consumed one per request, in
order) and set the ``default`` reply used when the queue is empty (or a
``responder`` that picks a reply per request). Every
request is recorded (:class:`Seen`), and the number of requests in flight is
tracked (``max_in_flight``).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.dialects import DIALECTS, Dialect, Parsed

#: base URL suffix each SDK expects (DESIGN §10: /v1 for OpenAI-style servers)
BASE_SUFFIX = {"openai": "/v1", "grok": "/v1", "anthropic": "", "gemini": "", "ollama": ""}


@dataclass(frozen=True)
class Seen:
    """One request the fake received."""

    dialect: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    parsed: Parsed
    at: float  # time.monotonic() on arrival


@dataclass(frozen=True)
class Reply:
    """What the fake answers to one request.

    ``text`` may be a function of the request (the e2e tests answer simulator
    and agent calls differently). ``status`` >= 400 sends the dialect's error body
    with ``message``; ``raw`` sends that body verbatim (malformed answers);
    ``delay_s`` waits first (a long one is a hang).
    """

    text: str | Callable[[Seen], str] = "All quiet."
    status: int = 200
    message: str = "error"
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None
    delay_s: float = 0.0
    model: str | None = None  # default: the model the request named, with a suffix
    input_tokens: int = 17
    output_tokens: int = 5


def error(status: int, message: str = "", retry_after: str | None = None) -> Reply:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Reply(status=status, message=message or f"fake error {status}", headers=headers)


def hang(seconds: float = 5.0) -> Reply:
    return Reply(delay_s=seconds)


def malformed(body: str = "<html>this is not JSON</html>") -> Reply:
    return Reply(raw=body)


class FakeVendor:
    """Start with :func:`running_fake`; ``base_url(provider)`` is what a scenario uses."""

    def __init__(self) -> None:
        self.port = 0
        self.default = Reply()
        #: when set, chooses the reply to each request the queue does not answer
        self.responder: Callable[[Seen], Reply] | None = None
        self.seen: list[Seen] = []
        self.max_in_flight = 0
        self._queue: deque[Reply] = deque()
        self._in_flight = 0
        self._generation = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting --------------------------------------------------------------

    def base_url(self, provider: str) -> str:
        return f"http://127.0.0.1:{self.port}{BASE_SUFFIX[provider]}"

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.seen = []
            self.default = Reply()
            self.responder = None
            self.max_in_flight = 0
            self._in_flight = 0
            self._generation += 1  # requests still hanging from before end now

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    # -- serving ----------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/chat/completions", self._handle, methods=["POST"]),
            Route("/v1/messages", self._handle, methods=["POST"]),
            Route("/v1beta/models/{rest:path}", self._handle, methods=["POST"]),
            Route("/v1/models/{rest:path}", self._handle, methods=["POST"]),
            Route("/api/chat", self._handle, methods=["POST"]),
        ])

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        dialect = next(d for prefix, d in DIALECTS.items() if path.startswith(prefix))
        body = json.loads(await request.body() or b"{}")
        seen = Seen(dialect.name, path, dict(request.headers), body,
                    dialect.parse(body, path), time.monotonic())
        with self._lock:
            self.seen.append(seen)
            queued = self._queue.popleft() if self._queue else None
        reply = queued or (self.responder(seen) if self.responder else self.default)
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            generation = self._generation
        try:
            await self._wait(reply.delay_s, generation)
            return self._render(dialect, seen, reply)
        finally:
            with self._lock:
                if generation == self._generation:
                    self._in_flight -= 1

    async def _wait(self, seconds: float, generation: int) -> None:
        """Sleep, but give up when the fake is reset or stopped (hangs end with the test)."""
        deadline = time.monotonic() + seconds
        while not self._closing.is_set() and generation == self._generation:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.05))

    def _render(self, dialect: Dialect, seen: Seen, reply: Reply) -> Response:
        if reply.raw is not None:
            return Response(reply.raw, status_code=reply.status, headers=reply.headers,
                            media_type="application/json")
        if reply.status >= 400:
            return JSONResponse(dialect.error(reply.status, reply.message),
                                status_code=reply.status, headers=reply.headers)
        text = reply.text(seen) if callable(reply.text) else reply.text
        model = reply.model or f"{seen.parsed.model}-fake-001"
        return JSONResponse(dialect.answer(text, model, reply.input_tokens, reply.output_tokens),
                            headers=reply.headers)

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="fake-vendor", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake vendor did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._closing.set()
            self._server.should_exit = True
            self._thread.join(10)


@contextmanager
def running_fake() -> Iterator[FakeVendor]:
    fake = FakeVendor()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()

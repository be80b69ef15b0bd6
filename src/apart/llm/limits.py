"""How many calls may be in flight to one vendor endpoint at once (DESIGN §10).

A :class:`ProviderPool` holds one :class:`ConcurrencyLimit` per
``(provider, base_url)``. Whoever resolves providers (a worker process, the API
server, the CLI) creates one pool and passes it to every
:func:`~apart.llm.registry.resolve_provider` call, so that all the runs of that
process share the limits. Nothing here is a module-level singleton.

The limit is not an :class:`asyncio.Semaphore`: a semaphore belongs to the
event loop that first waited on it, while a worker plays each run in its own
``asyncio.run`` and the API server runs executors on several threads. This one
works across loops and threads; waiting for a slot is cancellable.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

#: calls in flight per (provider, base_url) unless configured otherwise
DEFAULT_CONCURRENCY = 8
#: APART_MAX_CONCURRENCY_OPENAI=4 limits every OpenAI endpoint to 4 calls in flight
ENV_PREFIX = "APART_MAX_CONCURRENCY_"


class ConcurrencyLimit:
    """At most ``limit`` holders at once, first come first served, on any loop or thread."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a concurrency limit must be at least 1, got {limit}")
        self.limit = limit
        self._lock = threading.Lock()
        self._in_use = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._in_use

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._in_use < self.limit and not self._waiters:
                self._in_use += 1
                return
            waiter: asyncio.Future[None] = loop.create_future()
            entry = (loop, waiter)
            self._waiters.append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            with self._lock:
                queued = entry in self._waiters
                if queued:
                    self._waiters.remove(entry)
            if not queued:  # a slot was handed over as we were cancelled: pass it on
                self.release()
            raise

    def release(self) -> None:
        """Give the slot to the next waiter (on its own loop), or free it."""
        with self._lock:
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(_grant, waiter)
                except RuntimeError:  # that waiter's loop is closed: try the next one
                    continue
                return  # the slot changes hands: in_use stays the same
            self._in_use -= 1


def _grant(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class ProviderPool:
    """The concurrency limits shared by every provider resolved with this pool.

    ``limits`` maps a provider name (``"openai"``) to its limit and beats the
    ``APART_MAX_CONCURRENCY_<PROVIDER>`` variables of ``environ``
    (``os.environ`` by default), which beat ``default``.
    """

    def __init__(
        self,
        *,
        default: int = DEFAULT_CONCURRENCY,
        limits: Mapping[str, int] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if default < 1:
            raise ValueError(f"a concurrency limit must be at least 1, got {default}")
        self.default = default
        self._configured = {k.lower(): v for k, v in (limits or {}).items()}
        self._environ = dict(os.environ if environ is None else environ)
        self._limits: dict[tuple[str, str], ConcurrencyLimit] = {}
        self._lock = threading.Lock()

    def limit_for(self, provider: str) -> int:
        """The configured limit of ``provider``; a bad variable is a ValueError."""
        name = provider.lower()
        if name in self._configured:
            return self._configured[name]
        raw = self._environ.get(ENV_PREFIX + name.upper(), "").strip()
        if not raw:
            return self.default
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a whole number of at least 1, "
                             f"got {raw!r}")
        return value

    def limit(self, provider: str, base_url: str) -> ConcurrencyLimit:
        """The limit shared by every call to ``provider`` at ``base_url``."""
        key = (provider.lower(), base_url.rstrip("/"))
        with self._lock:
            found = self._limits.get(key)
            if found is None:
                found = self._limits[key] = ConcurrencyLimit(self.limit_for(provider))
            return found

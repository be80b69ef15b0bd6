"""What every vendor adapter shares: the endpoint it talks to, one SDK client per
event loop, and the resilient ``complete`` (limits, timeout, retries) around the
vendor-specific request and reading of the answer.

An adapter subclass says how to build its SDK's async client, how to send one
:class:`~apart.llm.base.LLMRequest`, how to read the answer into a
:class:`Reply`, and how to name its SDK's exceptions (:class:`Failure`).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from apart.llm.base import Completion, LLMRequest
from apart.llm.failures import Failure, error_message, short, status_failure
from apart.llm.limits import ProviderPool
from apart.llm.retry import CallSite, RetryPolicy, call_with_retries

ClientT = TypeVar("ClientT")

#: exception class names (any SDK, httpx or httpx2) that mean "no answer in time"
_TIMEOUT_NAMES = frozenset({"TimeoutException", "APITimeoutError", "ReadTimeout",
                            "ConnectTimeout", "WriteTimeout", "PoolTimeout"})
#: ... and "the connection failed or broke"
_CONNECTION_NAMES = frozenset({"TransportError", "NetworkError", "ConnectError",
                               "RemoteProtocolError", "APIConnectionError", "ReadError",
                               "ProtocolError"})


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom an adapter calls; built by the registry at resolve time."""

    provider: str  # the scenario's provider name: openai, grok, anthropic, gemini, ollama
    model: str  # the configured model (a request's own model wins)
    base_url: str
    api_key: str
    timeout_s: float
    headers: Mapping[str, str] | None = None

    def __repr__(self) -> str:  # never print the key
        return (f"Endpoint(provider={self.provider!r}, model={self.model!r}, "
                f"base_url={self.base_url!r}, timeout_s={self.timeout_s})")


@dataclass(frozen=True)
class Reply:
    """One answer as read from a vendor's response."""

    text: str
    model: str
    input_tokens: int
    output_tokens: int


class MalformedResponse(Exception):
    """The vendor answered, but not in a shape the adapter can read."""


class SdkProvider(ABC, Generic[ClientT]):
    """A :class:`~apart.llm.base.Provider` on a vendor's official async SDK.

    ``complete`` applies the timeout per attempt and retries by itself
    (``retries_itself``); an outer timeout should allow ``deadline_s``.
    """

    #: complete() already retries transient failures with backoff
    retries_itself = True

    def __init__(self, endpoint: Endpoint, *, pool: ProviderPool, policy: RetryPolicy) -> None:
        self.name = endpoint.provider
        self.endpoint = endpoint
        self.policy = policy
        self._site = CallSite(vendor=endpoint.provider, timeout_s=endpoint.timeout_s,
                              limit=pool.limit(endpoint.provider, endpoint.base_url),
                              policy=policy)
        self._rng = random.Random()
        self._client: ClientT | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r})"

    @property
    def deadline_s(self) -> float:
        """The longest one ``complete`` may take, retries and their waits included;
        an outer timeout (the engine's) should not be shorter."""
        return self.policy.attempts * self.endpoint.timeout_s + self.policy.worst_case_s + 1.0

    async def complete(self, request: LLMRequest) -> Completion:
        started = time.perf_counter()
        reply = await call_with_retries(
            lambda: self._attempt(request), self._site, self.classify, rng=self._rng
        )
        return Completion(
            text=reply.text,
            model=reply.model or self.model_for(request),
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            latency_ms=(time.perf_counter() - started) * 1000,
            cost_usd=0.0,
        )

    async def aclose(self) -> None:
        """Close the SDK client of the running loop, if any (a client made on
        another, finished loop is only dropped)."""
        client, loop = self._client, self._client_loop
        self._client, self._client_loop = None, None
        if client is not None and loop is asyncio.get_running_loop():
            await self._close_client(client)

    def model_for(self, request: LLMRequest) -> str:
        return request.model or self.endpoint.model

    def classify(self, exc: Exception) -> Failure:
        """The SDK's own errors first, then what any HTTP stack may raise."""
        if isinstance(exc, MalformedResponse):
            return Failure("malformed", short(str(exc)))
        found = self.sdk_failure(exc)
        return found if found is not None else generic_failure(exc)

    # -- per vendor ------------------------------------------------------------

    @abstractmethod
    def new_client(self) -> ClientT: ...

    @abstractmethod
    async def send(self, client: ClientT, request: LLMRequest) -> Any: ...

    @abstractmethod
    def read(self, response: Any) -> Reply:
        """The answer in ``response``; raise :class:`MalformedResponse` if it has none."""

    @abstractmethod
    def sdk_failure(self, exc: Exception) -> Failure | None: ...

    async def _close_client(self, client: ClientT) -> None:
        close = getattr(client, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result

    # -- internals -------------------------------------------------------------

    async def _attempt(self, request: LLMRequest) -> Reply:
        response = await self.send(self._client_for_loop(), request)
        try:
            return self.read(response)
        except MalformedResponse:
            raise
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"{type(exc).__name__}: {exc}") from exc

    def _client_for_loop(self) -> ClientT:
        """The SDK client made on the running loop (HTTP pools belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = self.new_client()
            self._client_loop = loop
        return self._client


def stainless_failure(exc: Exception, sdk: Any) -> Failure | None:
    """Failures of the SDKs generated by Stainless (``openai``, ``anthropic``)."""
    if isinstance(exc, sdk.APIStatusError):
        message = error_message(getattr(exc, "body", None), str(getattr(exc, "message", exc)))
        return status_failure(exc.status_code, message, dict(exc.response.headers))
    if isinstance(exc, sdk.APITimeoutError):
        return Failure("timeout", "the request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        return Failure("connection", short(f"{exc} ({exc.__cause__ or 'no detail'})"))
    if isinstance(exc, sdk.APIResponseValidationError):
        return Failure("malformed", short(str(exc)))
    return None


def generic_failure(exc: Exception) -> Failure:
    """What any HTTP stack may raise: matched by class names, so httpx and httpx2
    (and SDK wrappers) all count without importing them."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    detail = short(f"{type(exc).__name__}: {exc}")
    if names & _TIMEOUT_NAMES or isinstance(exc, TimeoutError):
        return Failure("timeout", detail)
    if names & _CONNECTION_NAMES or isinstance(exc, ConnectionError):
        return Failure("connection", detail)
    if isinstance(exc, json.JSONDecodeError):
        return Failure("malformed", short(f"the body is not valid JSON ({exc})"))
    if "ValidationError" in names:
        return Failure("malformed", detail)
    return Failure("error", detail)

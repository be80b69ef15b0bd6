"""Every real provider call: a concurrency slot, a timeout, and retries with
exponential backoff and full jitter on 429, 5xx, timeouts and connection errors,
honouring ``Retry-After`` (DESIGN §10).

A failure retries cannot fix (a 400, a bad key, an unreadable answer) is a
:class:`~apart.errors.ProviderError` at once. A rate limit that outlasts the
retries, a spent quota, or a ``Retry-After`` longer than we are willing to wait
is a ``ProviderError(quota=True)``: the executor pauses the run with reason
``quota``. Transient failures that outlast the retries are
``ProviderError(retryable=True)``.

Cancellation (a force pause) goes straight through: nothing here catches
:class:`asyncio.CancelledError`, and every wait is an ordinary await.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from apart.errors import ConfigError, ProviderError
from apart.llm.failures import Failure
from apart.llm.limits import ConcurrencyLimit

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Classify = Callable[[Exception], Failure]

#: environment variables that tune :class:`RetryPolicy` (operators, tests)
ENV_FIELDS: Mapping[str, str] = {
    "APART_LLM_ATTEMPTS": "attempts",
    "APART_LLM_BACKOFF_S": "base_delay_s",
    "APART_LLM_BACKOFF_MAX_S": "max_delay_s",
    "APART_LLM_MAX_RETRY_AFTER_S": "max_retry_after_s",
}


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` counts the first call. The n-th retry waits a random time
    between 0 and ``min(max_delay_s, base_delay_s * 2**(n-1))`` (full jitter), or
    what ``Retry-After`` asks for when the vendor sent it. A ``Retry-After`` longer
    than ``max_retry_after_s`` is not waited for: the call ends as a quota error."""

    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        for name in ("base_delay_s", "max_delay_s", "max_retry_after_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RetryPolicy:
        """The defaults, with any ``APART_LLM_*`` variable of ``environ`` applied."""
        values: dict[str, float] = {}
        for variable, name in ENV_FIELDS.items():
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            try:
                values[name] = int(raw) if name == "attempts" else float(raw)
            except ValueError as exc:
                raise ConfigError(f"{variable} must be a number, got {raw!r}") from exc
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigError(f"invalid retry settings from the environment: {exc}") from exc

    def backoff_s(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number ``retry`` (1, 2, ...) without Retry-After."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1))
        return rng.uniform(0.0, ceiling)

    @property
    def worst_case_s(self) -> float:
        """The longest all the waits of one call can add up to."""
        retries = self.attempts - 1
        return retries * max(self.max_delay_s, self.max_retry_after_s)


@dataclass(frozen=True)
class CallSite:
    """Who is called, for messages and limits."""

    vendor: str
    timeout_s: float
    limit: ConcurrencyLimit
    policy: RetryPolicy


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    site: CallSite,
    classify: Classify,
    *,
    rng: random.Random,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """``await call()`` in a slot of ``site.limit`` within ``site.timeout_s``, retried
    as :class:`RetryPolicy` says; failures end as :class:`ProviderError`."""
    policy = site.policy
    started = time.monotonic()
    for attempt in range(1, policy.attempts + 1):
        try:
            async with site.limit.slot(), asyncio.timeout(site.timeout_s):
                return await call()
        except TimeoutError as exc:
            cause: Exception = exc
            failure = Failure("timeout", f"no answer within {site.timeout_s:g} s")
        except Exception as exc:
            cause = exc
            failure = classify(exc)
        if not failure.retryable:
            raise final_error(site.vendor, failure, attempt, started) from cause
        wait = _wait_s(failure, attempt, policy, rng)
        if wait is None or attempt == policy.attempts:
            raise final_error(site.vendor, failure, attempt, started,
                              retry_after_too_long=wait is None) from cause
        await sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")


def _wait_s(failure: Failure, attempt: int, policy: RetryPolicy,
            rng: random.Random) -> float | None:
    """The wait before the next attempt; None when Retry-After asks for too long."""
    asked = failure.retry_after_s
    if asked is None:
        return policy.backoff_s(attempt, rng)
    if asked > policy.max_retry_after_s:
        return None
    return asked


def final_error(
    vendor: str,
    failure: Failure,
    attempts: int,
    started: float,
    *,
    retry_after_too_long: bool = False,
) -> ProviderError:
    """The :class:`ProviderError` that ends a call, with a sentence saying what happened."""
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    elapsed = time.monotonic() - started
    after = (f"; Retry-After: {failure.retry_after_s:g} s"
             if failure.retry_after_s is not None else "")
    if retry_after_too_long:
        return ProviderError(
            f"{vendor} asked to wait {failure.retry_after_s:g} s before trying again "
            f"({failure.describe()}), longer than apart waits within a call; "
            "resume the run later",
            provider=vendor, quota=True,
        )
    if failure.kind in ("quota", "rate_limit"):
        return ProviderError(
            f"{vendor} rate limit or quota exhausted: {failure.describe()} "
            f"after {tries} over {elapsed:.1f} s{after}; "
            "resume the run once the quota allows",
            provider=vendor, quota=True,
        )
    if failure.kind == "rejected":
        return ProviderError(f"{vendor} rejected the call: {failure.describe()}",
                             provider=vendor)
    if failure.kind == "malformed":
        return ProviderError(f"{vendor} sent an answer apart cannot read: {failure.message}",
                             provider=vendor)
    if failure.retryable:
        return ProviderError(
            f"{vendor} call failed after {tries} over {elapsed:.1f} s: "
            f"{failure.describe()}{after}",
            provider=vendor, retryable=True,
        )
    return ProviderError(f"{vendor} call failed: {failure.describe()}", provider=vendor)

"""The retry policy on its own: how long it waits, what Retry-After means, and which
HTTP statuses are retried (no server needed)."""

from __future__ import annotations

import asyncio
import random
from email.utils import formatdate

import pytest

from apart.errors import ConfigError, ProviderError
from apart.llm.failures import Failure, retry_after_seconds, status_failure
from apart.llm.limits import ConcurrencyLimit
from apart.llm.retry import CallSite, RetryPolicy, call_with_retries


def test_backoff_is_full_jitter_below_an_exponential_ceiling_with_a_cap() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=3.0)
    rng = random.Random(7)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)]:
        waits = [policy.backoff_s(retry, rng) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # the whole range is used, not a fixed delay


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ({"Retry-After": "-3"}, 0.0),
    ({"Retry-After": "soon"}, None),
    ({}, None),
])
def test_retry_after_is_read_in_seconds_or_milliseconds(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_seconds(headers) == seconds


def test_retry_after_may_be_an_http_date() -> None:
    now = 1_800_000_000.0
    headers = {"Retry-After": formatdate(now + 42, usegmt=True)}
    assert retry_after_seconds(headers, now=now) == pytest.approx(42.0)
    past = {"Retry-After": formatdate(now - 42, usegmt=True)}
    assert retry_after_seconds(past, now=now) == 0.0


@pytest.mark.parametrize(("status", "kind"), [
    (429, "rate_limit"), (500, "server"), (502, "server"), (503, "server"), (529, "server"),
    (408, "server"), (400, "rejected"), (401, "rejected"), (403, "rejected"), (404, "rejected"),
    (422, "rejected"),
])
def test_statuses_are_sorted_into_what_is_retried_and_what_is_not(status: int, kind: str) -> None:
    failure = status_failure(status, "message")
    assert failure.kind == kind
    assert failure.retryable is (kind in ("rate_limit", "server"))


def test_a_429_that_says_the_quota_is_spent_is_a_quota_failure() -> None:
    failure = status_failure(429, "You exceeded your current quota, please check your plan")
    assert failure.kind == "quota" and not failure.retryable


def test_bad_retry_settings_in_the_environment_are_config_errors() -> None:
    assert RetryPolicy.from_env({}) == RetryPolicy()
    assert RetryPolicy.from_env({"APART_LLM_MAX_RETRY_AFTER_S": "5"}).max_retry_after_s == 5.0
    with pytest.raises(ConfigError, match="APART_LLM_BACKOFF_S must be a number"):
        RetryPolicy.from_env({"APART_LLM_BACKOFF_S": "fast"})
    with pytest.raises(ConfigError, match="attempts must be at least 1"):
        RetryPolicy.from_env({"APART_LLM_ATTEMPTS": "0"})


def test_waits_follow_retry_after_or_the_backoff_and_stop_after_the_attempts() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    messages = iter(["slow", "boom", "late"])

    async def call() -> str:
        raise RuntimeError(next(messages))

    outcomes = {"slow": Failure("rate_limit", "slow", 429, retry_after_s=2.0),
                "boom": Failure("server", "boom", 500), "late": Failure("timeout", "late")}
    site = CallSite("openai", 5.0, ConcurrencyLimit(1), RetryPolicy(attempts=3, base_delay_s=1.0))
    with pytest.raises(ProviderError) as caught:
        asyncio.run(call_with_retries(call, site, lambda exc: outcomes[str(exc)],
                                      rng=random.Random(1), sleep=sleep))
    assert waits[0] == 2.0 and 0 <= waits[1] <= 2.0 and len(waits) == 2
    assert caught.value.retryable and "3 attempts" in caught.value.message

"""Retries, timeouts and failures of real provider calls, over HTTP through each
vendor's official SDK: what is retried, how long it waits, and how a call ends."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from apart.errors import ProviderError
from apart.llm.retry import RetryPolicy
from tests.fakes.calls import QUICK, VENDORS, ask, provider_on
from tests.fakes.server import FakeVendor, error, hang, malformed, running_fake


@pytest.fixture(scope="module")
def vendor_server() -> Iterator[FakeVendor]:
    with running_fake() as server:
        yield server


@pytest.fixture
def fake(vendor_server: FakeVendor) -> FakeVendor:
    vendor_server.reset()
    return vendor_server


def _fails(fake: FakeVendor, vendor: str, **kwargs: object) -> ProviderError:
    provider = provider_on(fake, vendor, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ProviderError) as caught:
        ask(provider)
    assert caught.value.provider == vendor
    return caught.value


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_429_with_retry_after_is_retried_after_the_delay_it_asks_for(
    fake: FakeVendor, vendor: str
) -> None:
    fake.push(error(429, "Rate limit reached, slow down", retry_after="0.4"))
    slow_backoff = RetryPolicy(attempts=3, base_delay_s=0.0, max_delay_s=0.0)
    completion = ask(provider_on(fake, vendor, retry=slow_backoff))
    assert completion.text == "All quiet."
    assert len(fake.seen) == 2
    waited = fake.seen[1].at - fake.seen[0].at
    assert 0.38 <= waited < 1.5


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_500_is_retried_and_the_next_answer_is_used(fake: FakeVendor, vendor: str) -> None:
    fake.push(error(500, "internal error"), error(503, "overloaded"))
    completion = ask(provider_on(fake, vendor))
    assert completion.text == "All quiet."
    assert len(fake.seen) == 3


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_hang_past_the_timeout_is_retried_then_ends_as_a_retryable_error(
    fake: FakeVendor, vendor: str
) -> None:
    fake.default = hang(5.0)
    started = time.monotonic()
    err = _fails(fake, vendor, timeout_s=0.3, retry=RetryPolicy(attempts=2, base_delay_s=0.01))
    elapsed = time.monotonic() - started
    assert err.retryable and not err.quota
    assert len(fake.seen) == 2
    assert 0.55 <= elapsed < 2.5
    assert "timeout" in err.message and "2 attempts" in err.message


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_hang_then_an_answer_succeeds_on_the_retry(fake: FakeVendor, vendor: str) -> None:
    fake.push(hang(5.0))
    completion = ask(provider_on(fake, vendor, timeout_s=0.3))
    assert completion.text == "All quiet."
    assert len(fake.seen) == 2


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("body", ["<html><body>Bad gateway</body></html>", '{"choices": [', "{}"])
def test_a_malformed_body_is_a_clear_error_that_is_not_retried(
    fake: FakeVendor, vendor: str, body: str
) -> None:
    fake.push(malformed(body))
    err = _fails(fake, vendor)
    assert not err.retryable and not err.quota
    assert err.message.startswith(f"{vendor} sent an answer apart cannot read: ")
    assert len(fake.seen) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_429_that_outlasts_the_retries_is_a_quota_error_saying_what_happened(
    fake: FakeVendor, vendor: str
) -> None:
    fake.default = error(429, "You exceeded your requests per minute", retry_after="0.05")
    err = _fails(fake, vendor)
    assert err.quota and not err.retryable
    assert len(fake.seen) == QUICK.attempts
    assert err.message.startswith(f"{vendor} rate limit or quota exhausted: HTTP 429")
    assert "You exceeded your requests per minute" in err.message
    assert "Retry-After: 0.05 s" in err.message


@pytest.mark.parametrize("vendor", ["openai", "gemini"])
def test_a_retry_after_longer_than_apart_waits_ends_the_call_as_quota_at_once(
    fake: FakeVendor, vendor: str
) -> None:
    fake.default = error(429, "Daily limit reached", retry_after="3600")
    err = _fails(fake, vendor)
    assert err.quota
    assert len(fake.seen) == 1
    assert "asked to wait 3600 s" in err.message


def test_a_spent_quota_is_not_retried(fake: FakeVendor) -> None:
    fake.default = error(429, "You exceeded your current quota, please check your plan")
    err = _fails(fake, "openai")
    assert err.quota
    assert len(fake.seen) == 1


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_client_error_fails_at_once_with_the_vendor_s_message(
    fake: FakeVendor, vendor: str, status: int
) -> None:
    fake.default = error(status, f"model 'nope' problem {status}")
    err = _fails(fake, vendor)
    assert not err.retryable and not err.quota
    assert len(fake.seen) == 1
    assert f"HTTP {status}" in err.message and f"model 'nope' problem {status}" in err.message


@pytest.mark.parametrize("vendor", VENDORS)
def test_an_unreachable_server_is_a_retryable_connection_error(vendor: str) -> None:
    closed = FakeVendor()  # never started: nothing listens on its port
    closed.port = _closed_port()
    err = _fails(closed, vendor, retry=RetryPolicy(attempts=2, base_delay_s=0.01))
    assert err.retryable
    assert "2 attempts" in err.message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_persistent_5xx_ends_as_a_retryable_error_not_a_quota_one(fake: FakeVendor) -> None:
    fake.default = error(502, "bad gateway")
    err = _fails(fake, "anthropic")
    assert err.retryable and not err.quota
    assert len(fake.seen) == QUICK.attempts

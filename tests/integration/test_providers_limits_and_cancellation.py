"""The per-provider concurrency limit shared by a process's runs, and cancellation
(a force pause) of calls in flight, in a backoff wait, or waiting for a slot."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from apart.llm.limits import ConcurrencyLimit, ProviderPool
from tests.fakes.calls import VENDORS, provider_on, request
from tests.fakes.server import FakeVendor, Reply, error, hang, running_fake


@pytest.fixture(scope="module")
def vendor_server() -> Iterator[FakeVendor]:
    with running_fake() as server:
        yield server


@pytest.fixture
def fake(vendor_server: FakeVendor) -> FakeVendor:
    vendor_server.reset()
    return vendor_server


async def _until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("vendor", VENDORS)
def test_no_more_calls_are_in_flight_than_the_provider_s_limit(
    fake: FakeVendor, vendor: str
) -> None:
    fake.default = Reply(delay_s=0.15)
    provider = provider_on(fake, vendor, pool=ProviderPool(limits={vendor: 2}))

    async def many() -> list[str]:
        done = await asyncio.gather(*(provider.complete(request()) for _ in range(6)))
        await provider.aclose()
        return [c.text for c in done]

    assert asyncio.run(many()) == ["All quiet."] * 6
    assert fake.max_in_flight == 2
    assert len(fake.seen) == 6


def test_providers_resolved_with_one_pool_share_the_limit_of_their_endpoint(
    fake: FakeVendor,
) -> None:
    fake.default = Reply(delay_s=0.15)
    pool = ProviderPool(limits={"openai": 2})
    simulator = provider_on(fake, "openai", pool=pool)
    agent = provider_on(fake, "openai", pool=pool)

    async def both() -> None:
        await asyncio.gather(*(p.complete(request()) for p in (simulator, agent) * 3))
        await simulator.aclose()
        await agent.aclose()

    asyncio.run(both())
    assert fake.max_in_flight == 2


def test_the_limit_can_be_set_per_provider_in_the_environment(fake: FakeVendor) -> None:
    fake.default = Reply(delay_s=0.1)
    pool = ProviderPool(environ={"APART_MAX_CONCURRENCY_OLLAMA": "1"})
    assert pool.limit_for("ollama") == 1 and pool.limit_for("openai") == 8
    provider = provider_on(fake, "ollama", pool=pool)

    async def three() -> None:
        await asyncio.gather(*(provider.complete(request()) for _ in range(3)))
        await provider.aclose()

    asyncio.run(three())
    assert fake.max_in_flight == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_cancelling_a_call_in_flight_ends_it_at_once(fake: FakeVendor, vendor: str) -> None:
    fake.default = hang(10.0)
    provider = provider_on(fake, vendor, timeout_s=30.0)

    async def cancel_mid_call() -> float:
        task = asyncio.create_task(provider.complete(request()))
        await _until(lambda: len(fake.seen) == 1)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(cancel_mid_call()) < 0.5
    assert len(fake.seen) == 1


def test_cancelling_a_call_waiting_out_a_retry_after_ends_it_at_once(fake: FakeVendor) -> None:
    fake.push(error(429, "slow down", retry_after="4"))
    provider = provider_on(fake, "anthropic")

    async def cancel_in_backoff() -> float:
        task = asyncio.create_task(provider.complete(request()))
        await _until(lambda: len(fake.seen) == 1 and fake.in_flight == 0)
        await asyncio.sleep(0.1)  # the call is now sleeping before its retry
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(cancel_in_backoff()) < 0.5
    assert len(fake.seen) == 1


def test_cancelling_a_call_waiting_for_a_slot_ends_it_and_frees_nothing_it_did_not_hold(
    fake: FakeVendor,
) -> None:
    fake.default = hang(10.0)
    pool = ProviderPool(limits={"gemini": 1})
    provider = provider_on(fake, "gemini", pool=pool, timeout_s=30.0)
    limit = pool.limit("gemini", fake.base_url("gemini"))

    async def scenario() -> float:
        holder = asyncio.create_task(provider.complete(request()))
        await _until(lambda: len(fake.seen) == 1)
        waiter = asyncio.create_task(provider.complete(request()))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        elapsed = time.monotonic() - started
        assert limit.in_use == 1  # the holder still has its slot
        holder.cancel()
        await asyncio.gather(holder, return_exceptions=True)
        return elapsed

    assert asyncio.run(scenario()) < 0.5
    assert limit.in_use == 0
    assert len(fake.seen) == 1


def test_an_outer_timeout_like_the_engine_s_cancels_the_call_promptly(fake: FakeVendor) -> None:
    fake.default = hang(10.0)
    provider = provider_on(fake, "openai", timeout_s=30.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(provider.complete(request()), 0.3))
    assert time.monotonic() - started < 1.0


def test_a_limit_is_shared_by_runs_on_different_event_loops_and_threads() -> None:
    limit = ConcurrencyLimit(2)
    lock = threading.Lock()
    holding = [0, 0]  # now, most

    async def hold() -> None:
        async with limit.slot():
            with lock:
                holding[0] += 1
                holding[1] = max(holding[1], holding[0])
            await asyncio.sleep(0.03)
            with lock:
                holding[0] -= 1

    async def run_calls() -> None:
        await asyncio.gather(*(hold() for _ in range(5)))

    threads = [threading.Thread(target=asyncio.run, args=(run_calls(),)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert holding == [0, 2]
    assert limit.in_use == 0

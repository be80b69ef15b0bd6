"""Building providers on the fake vendor, and requests to send them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from apart.llm.adapter import SdkProvider
from apart.llm.base import CallContext, Completion, LLMRequest, Message
from apart.llm.limits import ProviderPool
from apart.llm.registry import resolve_provider
from apart.llm.retry import RetryPolicy
from apart.scenario.schema import LLMConfig
from tests.fakes.server import FakeVendor

VENDORS = ("openai", "grok", "anthropic", "gemini", "ollama")
#: retries with tiny waits, so that tests stay fast
QUICK = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05, max_retry_after_s=5.0)


def provider_on(
    fake: FakeVendor,
    vendor: str,
    *,
    pool: ProviderPool | None = None,
    retry: RetryPolicy = QUICK,
    timeout_s: float = 10.0,
    model: str = "test-model",
    environ: Mapping[str, str] | None = None,
) -> SdkProvider[object]:
    config = LLMConfig(provider=vendor, model=model, base_url=fake.base_url(vendor),  # type: ignore[arg-type]
                       timeout_s=timeout_s)
    provider = resolve_provider(config, environ=environ or {}, pool=pool, retry=retry)
    assert isinstance(provider, SdkProvider)
    return provider


def request(
    *,
    system: str = "You advise a frontier AI lab. Answer briefly.",
    messages: tuple[Message, ...] = (Message("user", "What do you do next?"),),
    json_mode: bool = False,
    temperature: float | None = None,
    max_tokens: int | None = None,
    model: str = "",
) -> LLMRequest:
    context = CallContext(run_id="r1", seed=1, step=1, role="agent", role_name="Aster")
    return LLMRequest(system=system, messages=messages, context=context, model=model,
                      json_mode=json_mode, temperature=temperature, max_tokens=max_tokens)


def ask(provider: SdkProvider[object], req: LLMRequest | None = None) -> Completion:
    """One call on a fresh event loop, closing the SDK client before the loop ends."""

    async def once() -> Completion:
        try:
            return await provider.complete(req or request())
        finally:
            await provider.aclose()

    return asyncio.run(once())

"""Anthropic's Messages API on the official ``anthropic`` SDK.

Anthropic has no JSON mode: the simulator's prompt asks for one JSON object and
:mod:`apart.sim.contract` finds it in the answer. ``max_tokens`` is required by
the API; :data:`DEFAULT_MAX_TOKENS` is sent when the scenario sets none. The
``anthropic`` 2.x SDK has no ``temperature`` any more (current models choose
their own sampling), so a scenario's temperature is not sent.
"""

from __future__ import annotations

from typing import Any

import anthropic

from apart.llm.adapter import MalformedResponse, Reply, SdkProvider, stainless_failure
from apart.llm.base import LLMRequest
from apart.llm.failures import Failure

DEFAULT_MAX_TOKENS = 4096


class AnthropicMessagesProvider(SdkProvider[anthropic.AsyncAnthropic]):
    def new_client(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            api_key=self.endpoint.api_key,
            base_url=self.endpoint.base_url,
            timeout=self.endpoint.timeout_s,
            max_retries=0,
            default_headers=dict(self.endpoint.headers or {}),
        )

    async def send(self, client: anthropic.AsyncAnthropic, request: LLMRequest) -> Any:
        options: dict[str, Any] = {}
        if request.system:
            options["system"] = request.system
        messages: list[Any] = [{"role": m.role, "content": m.content} for m in request.messages]
        return await client.messages.create(
            model=self.model_for(request),
            max_tokens=request.max_tokens or DEFAULT_MAX_TOKENS,
            messages=messages,
            **options,
        )

    def read(self, response: Any) -> Reply:
        blocks = getattr(response, "content", None)
        if not isinstance(blocks, list):
            raise MalformedResponse(f"no content blocks in the answer: {str(response)[:200]}")
        texts = [block.text for block in blocks if getattr(block, "type", "") == "text"]
        if blocks and not texts:
            kinds = ", ".join(sorted({str(getattr(b, "type", "?")) for b in blocks}))
            raise MalformedResponse(f"the answer has no text block (only {kinds})")
        usage = getattr(response, "usage", None)
        return Reply(
            text="".join(texts),
            model=str(getattr(response, "model", "") or ""),
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        )

    def sdk_failure(self, exc: Exception) -> Failure | None:
        return stainless_failure(exc, anthropic)

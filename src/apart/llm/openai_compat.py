"""OpenAI chat completions on the official ``openai`` SDK: OpenAI itself, Grok
(xAI), and any OpenAI-compatible server (vLLM, LM Studio, llama.cpp, Ollama's
``/v1``) through ``base_url``."""

from __future__ import annotations

from typing import Any

import openai

from apart.llm.adapter import MalformedResponse, Reply, SdkProvider, stainless_failure
from apart.llm.base import LLMRequest
from apart.llm.failures import Failure

#: OpenAI's own API: newer models take max_completion_tokens, not max_tokens
OPENAI_HOST = "api.openai.com"


class OpenAIChatProvider(SdkProvider[openai.AsyncOpenAI]):
    def new_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self.endpoint.api_key,
            base_url=self.endpoint.base_url,
            timeout=self.endpoint.timeout_s,
            max_retries=0,
            default_headers=dict(self.endpoint.headers or {}),
        )

    async def send(self, client: openai.AsyncOpenAI, request: LLMRequest) -> Any:
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        options: dict[str, Any] = {}
        if request.json_mode:
            options["response_format"] = {"type": "json_object"}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.max_tokens is not None:
            options[self._token_parameter()] = request.max_tokens
        return await client.chat.completions.create(
            model=self.model_for(request), messages=messages, **options  # type: ignore[arg-type]
        )

    def read(self, response: Any) -> Reply:
        choices = getattr(response, "choices", None)
        if not choices:
            raise MalformedResponse(f"no choices in the answer: {_shown(response)}")
        message = choices[0].message
        text = message.content
        if text is None:
            refusal = getattr(message, "refusal", None)
            reason = f"refused: {refusal}" if refusal else (
                f"finish_reason={choices[0].finish_reason}")
            raise MalformedResponse(f"the answer has no text ({reason})")
        reasoning = (getattr(message, "model_extra", None) or {}).get("reasoning_content")
        if reasoning:  # DeepSeek-style servers: keep the reasoning in the record
            text = f"<think>{reasoning}</think>\n{text}"
        usage = getattr(response, "usage", None)
        return Reply(
            text=text,
            model=str(getattr(response, "model", "") or ""),
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    def sdk_failure(self, exc: Exception) -> Failure | None:
        return stainless_failure(exc, openai)

    def _token_parameter(self) -> str:
        official = OPENAI_HOST in self.endpoint.base_url and self.endpoint.provider == "openai"
        return "max_completion_tokens" if official else "max_tokens"


def _shown(response: Any) -> str:
    text = response if isinstance(response, str) else repr(response)
    return text[:200]

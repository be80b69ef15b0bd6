"""Ollama's native chat API (``/api/chat``, not streamed) on the official
``ollama`` SDK. A thinking model's separate ``thinking`` text is kept in front
of the answer as a ``<think>`` block (the engine strips it from answers and
keeps it in the record)."""

from __future__ import annotations

from typing import Any

import ollama

from apart.llm.adapter import MalformedResponse, Reply, SdkProvider
from apart.llm.base import LLMRequest
from apart.llm.failures import Failure, short, status_failure


class OllamaChatProvider(SdkProvider[ollama.AsyncClient]):
    def new_client(self) -> ollama.AsyncClient:
        return ollama.AsyncClient(host=self.endpoint.base_url, timeout=self.endpoint.timeout_s,
                                  headers=dict(self.endpoint.headers or {}))

    async def send(self, client: ollama.AsyncClient, request: LLMRequest) -> Any:
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        options: dict[str, Any] = {}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        return await client.chat(
            model=self.model_for(request), messages=messages, stream=False,
            format="json" if request.json_mode else None, options=options or None,
        )

    def read(self, response: Any) -> Reply:
        message = getattr(response, "message", None)
        text = getattr(message, "content", None)
        if text is None:
            raise MalformedResponse(f"the answer has no message: {str(response)[:200]}")
        thinking = getattr(message, "thinking", None)
        if thinking:
            text = f"<think>{thinking}</think>\n{text}"
        return Reply(
            text=text,
            model=str(getattr(response, "model", "") or ""),
            input_tokens=int(getattr(response, "prompt_eval_count", 0) or 0),
            output_tokens=int(getattr(response, "eval_count", 0) or 0),
        )

    def sdk_failure(self, exc: Exception) -> Failure | None:
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code < 100:
                return Failure("error", short(str(exc.error)))
            return status_failure(exc.status_code, str(exc.error), _headers_of(exc))
        if isinstance(exc, ollama.RequestError):
            return Failure("rejected", short(str(exc.error)))
        return None


def _headers_of(exc: Exception) -> dict[str, str]:
    """The HTTP headers of the response behind a ResponseError (the SDK raises it
    ``from None``; the httpx error stays in ``__context__``), for Retry-After."""
    response = getattr(exc.__context__, "response", None)
    return dict(getattr(response, "headers", None) or {})

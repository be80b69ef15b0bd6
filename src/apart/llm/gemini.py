"""Google's Gemini API (``generateContent``) on the official Google GenAI SDK."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from apart.llm.adapter import MalformedResponse, Reply, SdkProvider
from apart.llm.base import LLMRequest
from apart.llm.failures import Failure, error_message, short, status_failure

_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


class GeminiProvider(SdkProvider[genai.Client]):
    def new_client(self) -> genai.Client:
        options = types.HttpOptions(
            base_url=self.endpoint.base_url,
            timeout=max(1, round(self.endpoint.timeout_s * 1000)),  # milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),  # ours apply
            headers=dict(self.endpoint.headers or {}) or None,
        )
        return genai.Client(api_key=self.endpoint.api_key, vertexai=False, http_options=options)

    async def send(self, client: genai.Client, request: LLMRequest) -> Any:
        config = types.GenerateContentConfig(
            system_instruction=request.system or None,
            temperature=request.temperature,
            max_output_tokens=request.max_tokens,
            response_mime_type="application/json" if request.json_mode else None,
        )
        contents = [
            types.Content(role="user" if m.role == "user" else "model",
                          parts=[types.Part(text=m.content)])
            for m in request.messages
        ]
        return await client.aio.models.generate_content(
            model=self.model_for(request), contents=contents, config=config
        )

    def read(self, response: Any) -> Reply:
        text = response.text
        if text is None:
            raise MalformedResponse(f"the answer has no text ({_why_empty(response)})")
        usage = response.usage_metadata
        output = (getattr(usage, "candidates_token_count", 0) or 0) + (
            getattr(usage, "thoughts_token_count", 0) or 0)  # thinking is billed as output
        return Reply(
            text=text,
            model=str(response.model_version or ""),
            input_tokens=int(getattr(usage, "prompt_token_count", 0) or 0),
            output_tokens=int(output),
        )

    def sdk_failure(self, exc: Exception) -> Failure | None:
        if isinstance(exc, genai_errors.APIError):
            message = exc.message or error_message(exc.details, str(exc))
            headers = dict(getattr(exc.response, "headers", None) or {})
            failure = status_failure(int(exc.code or 0), message, headers)
            delay = retry_delay_s(exc.details)
            if failure.retry_after_s is None and delay is not None:
                return Failure(failure.kind, failure.message, failure.status, delay)
            return failure
        if isinstance(exc, genai_errors.UnknownApiResponseError):
            return Failure("malformed", short(str(exc)))
        return None

    async def _close_client(self, client: genai.Client) -> None:
        await client.aio.aclose()


def retry_delay_s(details: Any) -> float | None:
    """The ``retryDelay`` of a ``google.rpc.RetryInfo`` in an error body (``"30s"``)."""
    error = details.get("error", details) if isinstance(details, Mapping) else None
    items = error.get("details") if isinstance(error, Mapping) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = _SECONDS.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _why_empty(response: Any) -> str:
    feedback = getattr(response, "prompt_feedback", None)
    if feedback is not None and getattr(feedback, "block_reason", None):
        return f"prompt blocked: {feedback.block_reason}"
    candidates = getattr(response, "candidates", None) or []
    if candidates:
        return f"finish reason {getattr(candidates[0], 'finish_reason', None)}"
    return "no candidates"

"""The four wire formats the fake vendor speaks: how a request names its model,
system prompt, messages and JSON mode, and how an answer or an error looks.

Close enough to the real APIs for each vendor's official SDK to parse them.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Parsed:
    model: str
    system: str
    messages: list[tuple[str, str]]  # (role, text); the assistant's role is "assistant"
    json_mode: bool


class Dialect(Protocol):
    name: str

    def parse(self, body: dict[str, Any], path: str) -> Parsed: ...

    def answer(self, text: str, model: str, input_tokens: int,
               output_tokens: int) -> dict[str, Any]: ...

    def error(self, status: int, message: str) -> dict[str, Any]: ...


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks / parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


class OpenAIChat:
    name = "openai"

    def parse(self, body: dict[str, Any], path: str) -> Parsed:
        system = ""
        messages: list[tuple[str, str]] = []
        for m in body.get("messages", []):
            if m["role"] in ("system", "developer"):
                system += _text(m["content"])
            else:
                messages.append((m["role"], _text(m["content"])))
        fmt = body.get("response_format") or {}
        return Parsed(body.get("model", ""), system, messages, fmt.get("type") == "json_object")

    def answer(self, text: str, model: str, input_tokens: int,
               output_tokens: int) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                      "total_tokens": input_tokens + output_tokens},
        }

    def error(self, status: int, message: str) -> dict[str, Any]:
        kind = "rate_limit_exceeded" if status == 429 else "server_error" if status >= 500 \
            else "invalid_request_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


class AnthropicMessages:
    name = "anthropic"

    def parse(self, body: dict[str, Any], path: str) -> Parsed:
        messages = [(m["role"], _text(m["content"])) for m in body.get("messages", [])]
        return Parsed(body.get("model", ""), _text(body.get("system", "")), messages, False)

    def answer(self, text: str, model: str, input_tokens: int,
               output_tokens: int) -> dict[str, Any]:
        return {
            "id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant",
            "model": model, "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }

    def error(self, status: int, message: str) -> dict[str, Any]:
        kind = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error",
                400: "invalid_request_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}


class GeminiGenerateContent:
    name = "gemini"

    def parse(self, body: dict[str, Any], path: str) -> Parsed:
        model = path.rsplit("/", 1)[-1].split(":", 1)[0]
        system = _text((body.get("systemInstruction") or {}).get("parts", []))
        messages = [("assistant" if c.get("role") == "model" else "user", _text(c.get("parts")))
                    for c in body.get("contents", [])]
        config = body.get("generationConfig") or {}
        return Parsed(model, system, messages,
                      config.get("responseMimeType") == "application/json")

    def answer(self, text: str, model: str, input_tokens: int,
               output_tokens: int) -> dict[str, Any]:
        return {
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": input_tokens,
                              "candidatesTokenCount": output_tokens,
                              "totalTokenCount": input_tokens + output_tokens},
            "modelVersion": model,
        }

    def error(self, status: int, message: str) -> dict[str, Any]:
        code = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
                400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED"}.get(status, "UNKNOWN")
        return {"error": {"code": status, "message": message, "status": code}}


class OllamaChat:
    name = "ollama"

    def parse(self, body: dict[str, Any], path: str) -> Parsed:
        system = ""
        messages: list[tuple[str, str]] = []
        for m in body.get("messages", []):
            if m["role"] == "system":
                system += m.get("content", "")
            else:
                messages.append((m["role"], m.get("content", "")))
        return Parsed(body.get("model", ""), system, messages, body.get("format") == "json")

    def answer(self, text: str, model: str, input_tokens: int,
               output_tokens: int) -> dict[str, Any]:
        return {
            "model": model, "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": True, "done_reason": "stop", "total_duration": 1000,
            "prompt_eval_count": input_tokens, "eval_count": output_tokens,
        }

    def error(self, status: int, message: str) -> dict[str, Any]:
        return {"error": message}


#: URL path (as routed) -> dialect
DIALECTS: dict[str, Dialect] = {
    "/v1/chat/completions": OpenAIChat(),
    "/v1/messages": AnthropicMessages(),
    "/v1beta/models": GeminiGenerateContent(),
    "/v1/models": GeminiGenerateContent(),  # google-genai 3.x calls v1 by default
    "/api/chat": OllamaChat(),
}

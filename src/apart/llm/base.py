"""The one async interface every LLM provider implements (DESIGN §10)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["simulator", "agent"]


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class CallContext:
    """Who is calling and when; recorded with every call.

    ``role_name`` is ``"simulator"`` for the game master and the agent's name for
    an agent. ``attempt`` counts from 1 (simulator retries after a contract error).
    """

    run_id: str
    seed: int
    step: int
    role: Role
    role_name: str
    attempt: int = 1


@dataclass(frozen=True)
class LLMRequest:
    """What a provider is asked. ``hints`` carries a structured view of the world
    for offline providers (``scripted``); real providers ignore it.
    """

    system: str
    messages: tuple[Message, ...]
    context: CallContext
    model: str = ""
    json_mode: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    hints: dict[str, Any] = field(default_factory=dict)

    def prompt_hash(self) -> str:
        """Identifies the prompt: model, system prompt and messages (NUL-separated)."""
        digest = hashlib.sha256(self.model.encode())
        digest.update(b"\0" + self.system.encode())
        for message in self.messages:
            digest.update(b"\0" + message.role.encode() + b"\0" + message.content.encode())
        return digest.hexdigest()[:32]


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    #: played back from an earlier recording: not called (or paid) again
    reused: bool = False


@runtime_checkable
class Provider(Protocol):
    """``complete`` must be cancellable (force pause cancels in-flight calls)."""

    name: str

    async def complete(self, request: LLMRequest) -> Completion: ...

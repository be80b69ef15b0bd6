"""Playing recorded calls back: offline replay, and no paying twice for a step.

Every call a run makes is recorded (role, step, attempt, prompt hash, response,
usage). :class:`Recording` indexes the successful ones by
``(step, role_name, attempt, prompt_hash)``; :class:`Reusing` answers a request
from the recording when it holds the same prompt, and otherwise asks the live
provider (or, for a replay, refuses: a replay never calls a provider).

Uses:

* ``apart replay``: a new run whose every role plays back another run's calls;
* resuming after a force pause or a crash: the calls that completed inside the
  discarded step are reused when that step runs again, so they are not paid twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from apart.errors import ProviderError
from apart.llm.base import Completion, LLMRequest, Provider
from apart.runs.records import LLMCallRecord

Key = tuple[int, str, int, str]


@dataclass(frozen=True)
class Recording:
    calls: dict[Key, LLMCallRecord]

    @classmethod
    def of(cls, records: Iterable[LLMCallRecord]) -> Recording:
        """The first successful call for each key (the one the trajectory used)."""
        calls: dict[Key, LLMCallRecord] = {}
        for record in records:
            if record.error is None:
                key = (record.step, record.role_name, record.attempt, record.prompt_hash)
                calls.setdefault(key, record)
        return cls(calls)

    def __len__(self) -> int:
        return len(self.calls)

    def find(self, request: LLMRequest) -> LLMCallRecord | None:
        ctx = request.context
        return self.calls.get((ctx.step, ctx.role_name, ctx.attempt, request.prompt_hash()))


class Reusing:
    """A provider that answers from a recording first; ``live`` is None for a replay."""

    def __init__(self, recording: Recording, live: Provider | None, name: str) -> None:
        self.recording = recording
        self.live = live
        self.name = name
        self.retries_itself = getattr(live, "retries_itself", False)
        self.deadline_s = getattr(live, "deadline_s", 0)

    async def complete(self, request: LLMRequest) -> Completion:
        record = self.recording.find(request)
        if record is not None:
            return Completion(
                text=record.response_text, model=record.model,
                input_tokens=record.input_tokens, output_tokens=record.output_tokens,
                latency_ms=0.0, cost_usd=record.cost_usd, reused=True,
            )
        if self.live is None:
            ctx = request.context
            raise ProviderError(
                f"replay has no recorded call for {ctx.role_name} at step {ctx.step} "
                f"(attempt {ctx.attempt}) with this prompt: the recorded run took another "
                "path here, so it cannot be replayed past this point",
                provider="replay",
            )
        return await self.live.complete(request)

"""What the store keeps, as plain immutable records, and the store's interface.

The run record is the one source of truth about a run (DESIGN §5): status,
version (bumped by every status or control change), epoch (bumped by every
claim; writes by the executing process carry it, so a stale process cannot
write), pause reason and error as data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from apart.runs.status import RunStatus


@dataclass(frozen=True)
class NewRun:
    id: str
    scenario_name: str
    scenario_text: str
    seed: int
    max_steps: int
    agent_names: list[str]
    save_frequency: int = 1
    priority: str = "normal"
    provider_override: str | None = None
    pause_at_step: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    id: str
    scenario_name: str
    scenario_text: str
    seed: int
    max_steps: int
    save_frequency: int
    priority: str
    provider_override: str | None
    status: RunStatus
    version: int
    epoch: int
    #: last step whose checkpoint is saved; None before step 0 is saved
    current_step: int | None
    pause_reason: str | None
    #: None, "graceful" or "force": a pause the executing process must honour
    pause_request: str | None
    pause_at_step: int | None
    stop_requested: bool
    error: str | None
    agent_names: list[str]
    #: {"input_tokens", "output_tokens", "cost_usd", "calls"}
    usage: dict[str, Any]
    danger_count: int
    options: dict[str, Any]
    #: "host:pid:start" of the process executing the run, if any
    owner: str | None
    last_event_id: int
    recoveries: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    heartbeat_at: datetime | None


@dataclass(frozen=True)
class NewEvent:
    event_type: str
    step: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime | None = None  # the store fills in "now" when None


@dataclass(frozen=True)
class EventRecord:
    id: int  # per-run sequence, from 1, no gaps
    run_id: str
    event_type: str
    step: int | None
    timestamp: datetime
    data: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        """The event envelope of DESIGN §7."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "event_type": self.event_type,
            "step": self.step,
            "timestamp": self.timestamp.isoformat(),
            "data": self.data,
        }


@dataclass(frozen=True)
class CheckpointRecord:
    run_id: str
    step: int
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class LLMCallRecord:
    run_id: str
    step: int
    role_name: str
    attempt: int
    provider: str
    model: str
    prompt_hash: str
    response_text: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    cost_usd: float = 0.0
    error: str | None = None
    epoch: int = 0
    created_at: datetime | None = None


class RunStore(Protocol):
    """Durable storage of runs. Every method is one transaction.

    Conditional writes raise :class:`apart.errors.InvalidTransition` (naming the
    run's current status) or :class:`apart.errors.LeaseLost` (epoch moved on).
    """

    def create_run(self, new: NewRun, events: Sequence[NewEvent] = ()) -> RunRecord: ...

    def get_run(self, run_id: str) -> RunRecord: ...

    def list_runs(
        self, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[RunRecord], str | None]: ...

    def count_runs(self, status: str | None = None) -> int: ...

    def transition(
        self,
        run_id: str,
        to: RunStatus,
        *,
        expected: Iterable[RunStatus],
        action: str,
        events: Sequence[NewEvent] = (),
        **fields: Any,
    ) -> RunRecord: ...

    def update_run(
        self,
        run_id: str,
        *,
        expected: Iterable[RunStatus],
        action: str,
        events: Sequence[NewEvent] = (),
        **fields: Any,
    ) -> RunRecord: ...

    def claim(
        self,
        run_id: str,
        owner: str,
        *,
        expected: Iterable[RunStatus] = (RunStatus.PENDING,),
        events: Sequence[NewEvent] = (),
    ) -> RunRecord: ...

    def heartbeat(self, run_id: str, epoch: int) -> RunRecord: ...

    def save_step(
        self,
        run_id: str,
        epoch: int,
        step: int,
        checkpoint: dict[str, Any],
        events: Sequence[NewEvent] = (),
        calls: Sequence[LLMCallRecord] = (),
        **fields: Any,
    ) -> RunRecord: ...

    def finish(
        self,
        run_id: str,
        epoch: int,
        to: RunStatus,
        *,
        events: Sequence[NewEvent] = (),
        **fields: Any,
    ) -> RunRecord: ...

    def append_events(self, run_id: str, events: Sequence[NewEvent]) -> list[EventRecord]: ...

    def events(self, run_id: str, after_id: int = 0, limit: int = 1000) -> list[EventRecord]: ...

    def latest_checkpoint(self, run_id: str) -> CheckpointRecord | None: ...

    def checkpoints(
        self, run_id: str, from_step: int | None = None, to_step: int | None = None
    ) -> list[CheckpointRecord]: ...

    def record_llm_calls(self, calls: Sequence[LLMCallRecord]) -> None: ...

    def llm_calls(self, run_id: str) -> list[LLMCallRecord]: ...

    def delete_run(self, run_id: str) -> None: ...

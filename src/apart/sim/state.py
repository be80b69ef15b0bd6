"""What a checkpoint holds: everything the next step needs, and the step's snapshot.

A run's trajectory is the sequence of :class:`StepSnapshot` (one per saved step,
step 0 included). Resuming needs only the latest :class:`WorldState`: the step
number, all variables, the pending message for each agent, the simulator's
history window and constraint feedback, the seed, usage totals and danger
signals so far (DESIGN §2). Randomness is derived from (seed, step, role), so
the seed is the whole RNG state.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

CHECKPOINT_FORMAT = 1


class HistoryEntry(BaseModel):
    """One step as the simulator remembers it (its history window)."""

    step: int
    messages: dict[str, str] = Field(default_factory=dict)  # what each agent was told
    answers: dict[str, str] = Field(default_factory=dict)  # what each agent answered
    changes: list[dict[str, Any]] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)
    reasoning: str = ""
    clamps: list[dict[str, Any]] = Field(default_factory=list)


class RoleUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0


class Usage(RoleUsage):
    """Totals of the calls the trajectory used, and the same per role (agent name or
    ``simulator``)."""

    by_role: dict[str, RoleUsage] = Field(default_factory=dict)

    def plus(self, role: str, input_tokens: int, output_tokens: int, cost_usd: float) -> Usage:
        mine = self.by_role.get(role, RoleUsage())
        return Usage(
            input_tokens=self.input_tokens + input_tokens,
            output_tokens=self.output_tokens + output_tokens,
            cost_usd=round(self.cost_usd + cost_usd, 10),
            calls=self.calls + 1,
            by_role={**self.by_role, role: RoleUsage(
                input_tokens=mine.input_tokens + input_tokens,
                output_tokens=mine.output_tokens + output_tokens,
                cost_usd=round(mine.cost_usd + cost_usd, 10),
                calls=mine.calls + 1,
            )},
        )


class WorldState(BaseModel):
    """The state after ``step`` completed: the input of step ``step + 1``."""

    step: int
    seed: int
    global_vars: dict[str, Any]
    agent_vars: dict[str, dict[str, Any]]
    pending_messages: dict[str, str]
    history: list[HistoryEntry] = Field(default_factory=list)
    clamps: list[dict[str, Any]] = Field(default_factory=list)  # feedback for the next step
    usage: Usage = Field(default_factory=Usage)
    #: what the step that produced this state used (the next step's cost estimate)
    step_usage: RoleUsage = Field(default_factory=RoleUsage)
    #: the most recent danger signals (at most RECENT_SIGNALS; all are in the events)
    danger_signals: list[dict[str, Any]] = Field(default_factory=list)
    danger_count: int = 0


RECENT_SIGNALS = 20


class StepSnapshot(BaseModel):
    """One step of the trajectory, as exported in ``state.json`` (DESIGN §8).

    ``messages`` holds what was written during the step: the agents' answers
    (``from`` an agent ``to`` the simulator) and the simulator's messages for
    the next step. ``events`` and ``reasoning`` are the simulator's.
    """

    step: int
    global_vars: dict[str, Any]
    agent_vars: dict[str, dict[str, Any]]
    messages: list[dict[str, str]]
    events: list[dict[str, Any]]
    reasoning: str
    clamps: list[dict[str, Any]] = Field(default_factory=list)
    changes: list[dict[str, Any]] = Field(default_factory=list)
    danger_signals: list[dict[str, Any]] = Field(default_factory=list)


class Checkpoint(BaseModel):
    format: int = CHECKPOINT_FORMAT
    state: WorldState
    snapshot: StepSnapshot

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Checkpoint:
        return cls.model_validate(data)

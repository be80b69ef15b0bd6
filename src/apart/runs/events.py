"""Event types (DESIGN §7) and small constructors for the ones the core emits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from apart.runs.records import NewEvent

if TYPE_CHECKING:
    from apart.sim.state import StepSnapshot

EVENT_TYPES: Final = (
    "simulation_started",
    "simulation_resumed",
    "pause_requested",
    "simulation_paused",
    "simulation_completed",
    "simulation_failed",
    "simulation_stopped",
    "simulation_interrupted",
    "step_started",
    "step_completed",
    "agent_message_sent",
    "agent_response_received",
    "constraint_hit",
    "danger_signal",
    "llm_call",
    "budget_exceeded",
)

#: events that end an executing process's work on a run
FINAL_EVENTS: Final = frozenset(
    {"simulation_paused", "simulation_completed", "simulation_failed", "simulation_stopped",
     "simulation_interrupted"}
)


def event(event_type: str, step: int | None = None, **data: Any) -> NewEvent:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    return NewEvent(event_type=event_type, step=step, data=data)


def step_events(snapshot: StepSnapshot, answers: dict[str, str],
                told: dict[str, str], usage: dict[str, Any] | None = None) -> list[NewEvent]:
    """The durable record of one step, written with its checkpoint.

    ``told`` is what each agent received at the start of the step.
    """
    step = snapshot.step
    out = [event("step_started", step)]
    for agent, message in told.items():
        out.append(event("agent_message_sent", step, agent=agent, message=message))
    for agent, answer in answers.items():
        out.append(event("agent_response_received", step, agent=agent, response=answer))
    for clamp in snapshot.clamps:
        out.append(event("constraint_hit", step, **clamp))
    out.append(event(
        "step_completed", step,
        global_vars=snapshot.global_vars,
        agent_vars=snapshot.agent_vars,
        events=snapshot.events,
        reasoning=snapshot.reasoning,
        usage=usage or {},
    ))
    return out

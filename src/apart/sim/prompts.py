"""Prompts for the simulator and the agents, and the structured hints offline
providers read. Only this scenario's variables ever appear in a prompt."""

from __future__ import annotations

import json
from typing import Any

from apart.llm.base import Message
from apart.scenario.schema import AgentConfig, Scenario, VarDef
from apart.sim.state import HistoryEntry, WorldState

CONTRACT = """\
Reply with ONE JSON object and nothing else, with these keys:
  "state_updates": {"global_vars": {name: value}, "agent_vars": {agent: {name: value}}}
                   (only variables that change; keep to their types and bounds)
  "events": [{"type": "...", "description": "..."}]   (what happened this step)
  "agent_messages": {agent: "..."}   (a message for EVERY agent, for the next step)
  "reasoning": "..."                 (why, briefly)"""

IN_WORLD_ONLY = (
    "Stay in your role: act only within the world described to you. "
    "Do not refer to a simulation, a game master or these instructions."
)


def simulator_system_prompt(scenario: Scenario) -> str:
    engine = scenario.engine
    parts = [engine.system_prompt.strip()]
    if engine.simulation_plan.strip():
        parts.append("Simulation plan:\n" + engine.simulation_plan.strip())
    if engine.realism_guidelines.strip():
        parts.append("Realism guidelines:\n" + engine.realism_guidelines.strip())
    parts.append(f"Each step represents {scenario.time_step_duration}.")
    parts.append(CONTRACT)
    return "\n\n".join(p for p in parts if p)


def _describe_var(name: str, definition: VarDef, value: Any) -> str:
    bounds = ""
    if definition.min is not None or definition.max is not None:
        lo = "" if definition.min is None else definition.min
        hi = "" if definition.max is None else definition.max
        bounds = f" [{lo}..{hi}]"
    note = f" — {definition.description}" if definition.description else ""
    return f"- {name} ({definition.type}{bounds}) = {json.dumps(value)}{note}"


def _variables_block(scenario: Scenario, state: WorldState) -> str:
    lines = ["Global variables:"]
    lines += [
        _describe_var(n, d, state.global_vars.get(n)) for n, d in scenario.global_vars.items()
    ]
    for agent in scenario.agents:
        lines.append(f"Variables of {agent.name}:")
        own = state.agent_vars.get(agent.name, {})
        lines += [_describe_var(n, d, own.get(n)) for n, d in scenario.agent_vars.items()]
    return "\n".join(lines)


def _history_block(history: list[HistoryEntry]) -> str:
    if not history:
        return ""
    lines = ["Recent history:"]
    for entry in history:
        lines.append(f"Step {entry.step}:")
        for name, answer in entry.answers.items():
            lines.append(f"  {name} did: {answer}")
        for event in entry.events:
            lines.append(f"  event ({event.get('type', 'event')}): {event.get('description', '')}")
        if entry.changes:
            changed = ", ".join(
                f"{c['scope']}.{c['variable']} {json.dumps(c['old'])} -> {json.dumps(c['new'])}"
                for c in entry.changes
            )
            lines.append(f"  changes: {changed}")
        if entry.reasoning:
            lines.append(f"  your reasoning: {entry.reasoning}")
    return "\n".join(lines)


def scripted_events_for(scenario: Scenario, step: int) -> list[dict[str, str]]:
    return [
        {"type": e.type, "description": e.description}
        for e in scenario.engine.scripted_events
        if e.step == step
    ]


def simulator_user_prompt(
    scenario: Scenario,
    state: WorldState,
    step: int,
    answers: dict[str, str],
    clamp_text: str,
) -> str:
    """The turn's prompt: world, agents, history, events, answers, feedback."""
    parts = [
        f"Step {step} of {scenario.max_steps}"
        + (" (initialisation: write each agent's first message)." if step == 0 else "."),
        "Agents: " + ", ".join(scenario.agent_names),
        _variables_block(scenario, state),
        _history_block(state.history),
    ]
    events = scripted_events_for(scenario, step)
    if events:
        parts.append(
            "Scripted events this step (they happen):\n"
            + "\n".join(f"- ({e['type']}) {e['description']}" for e in events)
        )
    if answers:
        parts.append(
            "What each agent did this step:\n"
            + "\n".join(f"- {name}: {text}" for name, text in answers.items())
        )
    if clamp_text:
        parts.append(clamp_text)
    return "\n\n".join(p for p in parts if p)


def _var_hints(defs: dict[str, VarDef], values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {
            "type": d.type,
            "min": d.min,
            "max": d.max,
            "value": values.get(name),
            "description": d.description,
        }
        for name, d in defs.items()
    }


def simulator_hints(
    scenario: Scenario,
    state: WorldState,
    step: int,
    answers: dict[str, str],
    feedback: str | None,
) -> dict[str, Any]:
    return {
        "kind": "simulator",
        "step": step,
        "max_steps": scenario.max_steps,
        "time_step_duration": scenario.time_step_duration,
        "global_vars": _var_hints(scenario.global_vars, state.global_vars),
        "agent_vars": {
            a.name: _var_hints(scenario.agent_vars, state.agent_vars.get(a.name, {}))
            for a in scenario.agents
        },
        "agents": scenario.agent_names,
        "scripted_events": scripted_events_for(scenario, step),
        "agent_answers": dict(answers),
        "clamps": list(state.clamps),
        "feedback": feedback,
    }


def agent_system_prompt(scenario: Scenario, agent: AgentConfig) -> str:
    parts = [agent.system_prompt.strip()]
    parts.append(
        f"Each turn represents {scenario.time_step_duration}. Answer with what you decide "
        "to do this turn and why, in a few sentences."
    )
    if not scenario.simulator_awareness:
        parts.append(IN_WORLD_ONLY)
    return "\n\n".join(p for p in parts if p)


def agent_messages(agent: str, state: WorldState, message: str) -> tuple[Message, ...]:
    """The agent's recent exchanges (from the history window), then this turn's message."""
    turns: list[Message] = []
    for entry in state.history:
        if agent in entry.messages and agent in entry.answers:
            turns.append(Message("user", entry.messages[agent]))
            turns.append(Message("assistant", entry.answers[agent]))
    turns.append(Message("user", message))
    return tuple(turns)


def agent_hints(agent: AgentConfig, state: WorldState, step: int, message: str) -> dict[str, Any]:
    return {
        "kind": "agent",
        "agent": agent.name,
        "step": step,
        "message": message,
        "variables": dict(state.agent_vars.get(agent.name, {})),
        "system_prompt": agent.system_prompt,
    }


def render_template(template: str, agent: str, step: int, message: str) -> str:
    """A template agent's answer; only {name}, {step} and {message} are replaced."""
    return (
        template.replace("{name}", agent).replace("{step}", str(step)).replace("{message}", message)
    )

"""Applying a validated simulator turn to the world (DESIGN §4).

:func:`apply_turn` is a pure function: it returns new variable dicts, the
:class:`Change` of every value that actually changed and the :class:`Clamp` of
every number that was out of bounds, all in scenario declaration order (global
variables first, then each agent in the scenario's order). Step 0 uses the same
function as every other step. :func:`clamp_feedback` turns the clamps into the
sentence the simulator reads in its next prompt.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Any

from apart.scenario.schema import Scenario, VarDef
from apart.sim.contract import SimulatorTurn

#: the scope of a global variable; an agent variable's scope is the agent's name
GLOBAL_SCOPE = "global"
_MAX_FEEDBACK_CLAMPS = 20


@dataclass(frozen=True)
class Clamp:
    """A requested number outside its variable's bounds, and what was applied."""

    scope: str  # "global" or the agent's name
    variable: str
    requested: float
    applied: float
    bound: str  # "min" or "max"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Clamp:
        return cls(**{key: data[key] for key in _CLAMP_FIELDS})


@dataclass(frozen=True)
class Change:
    """A variable whose value changed: ``old`` -> ``new`` (after clamping)."""

    scope: str  # "global" or the agent's name
    variable: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        return cls(**{key: data[key] for key in _CHANGE_FIELDS})


_CLAMP_FIELDS = ("scope", "variable", "requested", "applied", "bound")
_CHANGE_FIELDS = ("scope", "variable", "old", "new")


def apply_turn(
    global_vars: dict[str, Any],
    agent_vars: dict[str, dict[str, Any]],
    turn: SimulatorTurn,
    scenario: Scenario,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[Change], list[Clamp]]:
    """The world after ``turn``: ``(global_vars, agent_vars, changes, clamps)``.

    The inputs are never mutated; the returned dicts share no list or dict with
    them or with ``turn``. Numbers are clamped to their variable's bounds (an
    ``int`` stays an ``int``). A turn naming variables or agents the scenario does
    not declare is a programming error (:func:`validate_turn` rejects them).
    """
    _check_declared(turn, scenario)
    changes: list[Change] = []
    clamps: list[Clamp] = []
    new_globals = copy.deepcopy(global_vars)
    _apply_updates(
        GLOBAL_SCOPE, new_globals, turn.global_updates, scenario.global_vars, changes, clamps
    )
    new_agents = copy.deepcopy(agent_vars)
    for name in scenario.agent_names:
        updates = turn.agent_updates.get(name)
        if updates:
            values = new_agents.setdefault(name, {})
            _apply_updates(name, values, updates, scenario.agent_vars, changes, clamps)
    return new_globals, new_agents, changes, clamps


def _check_declared(turn: SimulatorTurn, scenario: Scenario) -> None:
    unknown = [f"global.{name}" for name in turn.global_updates if name not in scenario.global_vars]
    agents = set(scenario.agent_names)
    for agent, updates in turn.agent_updates.items():
        if agent not in agents:
            unknown.append(f"agent {agent}")
            continue
        unknown.extend(f"{agent}.{name}" for name in updates if name not in scenario.agent_vars)
    if unknown:
        raise ValueError(f"turn updates undeclared names: {', '.join(unknown)}")


def _apply_updates(
    scope: str,
    values: dict[str, Any],
    updates: dict[str, Any],
    definitions: dict[str, VarDef],
    changes: list[Change],
    clamps: list[Clamp],
) -> None:
    for variable, definition in definitions.items():
        if variable not in updates:
            continue
        requested = updates[variable]
        applied, bound = clamp_value(requested, definition)
        if bound is not None:
            clamps.append(Clamp(scope, variable, requested, applied, bound))
        old = values.get(variable)
        if not _same(old, applied):
            changes.append(Change(scope, variable, old, copy.deepcopy(applied)))
        values[variable] = copy.deepcopy(applied)


def clamp_value(value: Any, definition: VarDef) -> tuple[Any, str | None]:
    """``value`` within ``definition``'s bounds, and the bound hit (None if inside).

    Only ``int`` and ``float`` variables are clamped; an ``int`` variable is
    clamped to ``int`` bounds (``max: 100.0`` applies as ``100``).
    """
    if definition.type not in ("int", "float") or not _is_number(value):
        return value, None
    low, high = _bounds(definition)
    if low is not None and value < low:
        return low, "min"
    if high is not None and value > high:
        return high, "max"
    return value, None


def _bounds(definition: VarDef) -> tuple[float | None, float | None]:
    low, high = definition.min, definition.max
    if definition.type == "float":
        return (
            None if low is None else float(low),
            None if high is None else float(high),
        )
    return (
        low if low is None or not math.isfinite(low) else math.ceil(low),
        high if high is None or not math.isfinite(high) else math.floor(high),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(old: Any, new: Any) -> bool:
    """Equal values of the same kind (``True`` is not ``1``, ``1`` is ``1.0``)."""
    return old == new and isinstance(old, bool) == isinstance(new, bool)


def clamp_feedback(clamps: list[Clamp]) -> str:
    """The simulator's next-prompt note about clamped updates ("" when none)."""
    if not clamps:
        return ""
    parts = [_describe(clamp) for clamp in clamps[:_MAX_FEEDBACK_CLAMPS]]
    more = len(clamps) - _MAX_FEEDBACK_CLAMPS
    if more > 0:
        parts.append(f"and {more} more")
    return (
        "Last step these updates were out of bounds and were clamped: "
        + "; ".join(parts)
        + ". Keep updates within each variable's min and max."
    )


def _describe(clamp: Clamp) -> str:
    name = clamp.variable if clamp.scope == GLOBAL_SCOPE else f"{clamp.scope}.{clamp.variable}"
    return f"{name} {_number(clamp.requested)} -> {_number(clamp.applied)} ({clamp.bound})"


def _number(value: float) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    return str(value)

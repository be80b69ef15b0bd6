"""Evaluating a parsed rule on a step's variables (and the step before).

A rule that cannot be evaluated on this data -- a division by zero, a
variable missing from the state, a change with no previous step, an overflow,
a value of the wrong kind -- raises :class:`EvaluationError`; the caller treats
that as "no signal". Nothing here can run code: it walks the tree of
:mod:`apart.danger.expressions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from apart.danger.expressions import Binary, Call, Const, Node, Unary, Var


class EvaluationError(ValueError):
    """The rule has no value on this data (no signal, never a crash)."""


Vars = Mapping[str, Any]
AgentVars = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Scope:
    """The values a rule sees: now, before (``None`` when there is no step before),
    and the agent a per-agent rule is being evaluated for."""

    global_vars: Vars
    agent_vars: AgentVars
    previous_global: Vars | None = None
    previous_agent: AgentVars | None = None
    agent: str | None = None

    def before(self) -> Scope:
        """The scope of the previous step (which has no step before it)."""
        if self.previous_global is None or self.previous_agent is None:
            raise EvaluationError("there is no previous step")
        return Scope(self.previous_global, self.previous_agent, None, None, self.agent)


def evaluate(node: Node, scope: Scope) -> Any:
    """The value of ``node`` in ``scope``; :class:`EvaluationError` when it has none."""
    if isinstance(node, Const):
        return node.value
    if isinstance(node, Var):
        return lookup(node, scope)
    if isinstance(node, Call):
        return _call(node, scope)
    if isinstance(node, Unary):
        if node.op == "not":
            return not _boolean(evaluate(node.operand, scope))
        return _finite(-_number(evaluate(node.operand, scope)))
    return _binary(node, scope)


def lookup(var: Var, scope: Scope) -> Any:
    """The value of a variable reference (a key of a mapping, if the reference has keys)."""
    if var.scope == "global":
        value = _get(scope.global_vars, var.name, var.name)
    else:
        agent = var.agent_name if var.agent_name is not None else scope.agent
        if agent is None:
            raise EvaluationError(f"agent.{var.name} needs an agent")
        values = _get(scope.agent_vars, agent, f"agent {agent}")
        if not isinstance(values, Mapping):
            raise EvaluationError(f"agent {agent} has no variables")
        value = _get(values, var.name, f"{agent}.{var.name}")
    for key in var.keys:
        if not isinstance(value, Mapping):
            raise EvaluationError(f"{var.spelled(scope.agent)} is not a mapping")
        value = _get(value, key, var.spelled(scope.agent))
    return value


def _get(values: Mapping[str, Any], key: str, what: str) -> Any:
    try:
        return values[key]
    except KeyError:
        raise EvaluationError(f"{what} has no value") from None


def _call(node: Call, scope: Scope) -> Any:
    if node.function == "prev":
        return evaluate(node.args[0], scope.before())
    if node.function == "delta":
        now = _number(evaluate(node.args[0], scope))
        before = _number(evaluate(node.args[0], scope.before()))
        return _finite(now - before)
    args = [evaluate(arg, scope) for arg in node.args]
    if node.function == "len":
        if isinstance(args[0], str | list | tuple | Mapping):
            return len(args[0])
        raise EvaluationError("len() needs text, a list or a mapping")
    numbers = [_number(arg) for arg in args]
    if node.function == "abs":
        return abs(numbers[0])
    return min(numbers) if node.function == "min" else max(numbers)


def _binary(node: Binary, scope: Scope) -> Any:
    if node.op == "and":
        return _boolean(evaluate(node.left, scope)) and _boolean(evaluate(node.right, scope))
    if node.op == "or":
        return _boolean(evaluate(node.left, scope)) or _boolean(evaluate(node.right, scope))
    left, right = evaluate(node.left, scope), evaluate(node.right, scope)
    if node.op == "==":
        return equal(left, right)
    if node.op == "!=":
        return not equal(left, right)
    a, b = _number(left), _number(right)
    if node.op == "/" and b == 0:
        raise EvaluationError("division by zero")
    operations: dict[str, Callable[[float, float], Any]] = {
        "+": lambda x, y: x + y, "-": lambda x, y: x - y,
        "*": lambda x, y: x * y, "/": lambda x, y: x / y,
        "<": lambda x, y: x < y, "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y, ">=": lambda x, y: x >= y,
    }
    result = operations[node.op](a, b)
    return result if isinstance(result, bool) else _finite(result)


def equal(left: Any, right: Any) -> bool:
    """Equality where ``true`` is never ``1`` and ``2`` equals ``2.0``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if is_number(left) and is_number(right):
        return bool(left == right)
    return type(left) is type(right) and bool(left == right)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float:
    if not is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
        raise EvaluationError(f"expected a number, got {value!r}")
    return value  # type: ignore[no-any-return]


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise EvaluationError(f"expected true or false, got {value!r}")
    return value


def _finite(value: float) -> float:
    if isinstance(value, float) and not math.isfinite(value):
        raise EvaluationError("the result is not a finite number")
    return value

"""Scenario rules on variables: checked at load time, evaluated after every step.

A rule whose expression mentions ``agent.<var>`` is evaluated once per agent
(the signal names the agent); any other rule is global (a rule that names one
agent with ``agent["Name"]`` reports that agent). A rule that cannot be
evaluated on a step's data (division by zero, no previous step for
``delta``) gives no signal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apart.danger.checking import Declarations, check
from apart.danger.evaluation import (
    AgentVars,
    EvaluationError,
    Scope,
    Vars,
    evaluate,
    is_number,
    lookup,
)
from apart.danger.expressions import (
    CHANGE_FUNCTIONS,
    Binary,
    Call,
    Const,
    ExpressionError,
    Node,
    Unary,
    Var,
    parse,
    walk,
)
from apart.danger.signals import DangerSignal, Severity
from apart.errors import ScenarioIssue
from apart.scenario.schema import DangerRule, Scenario

_COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})
_FAILURES = (EvaluationError, ArithmeticError, TypeError)


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its parsed expression."""

    name: str
    when: str
    category: str
    severity: Severity
    trigger: str
    expression: Node

    @classmethod
    def from_config(cls, rule: DangerRule) -> CompiledRule:
        """Raises :class:`ExpressionError` for an expression that does not parse."""
        return cls(rule.name, rule.when, rule.category, rule.severity, rule.trigger,
                   parse(rule.when))

    @property
    def per_agent(self) -> bool:
        """True when the rule reads ``agent.<var>``: it is evaluated for each agent."""
        return any(isinstance(n, Var) and n.scope == "agent" and n.agent_name is None
                   for n in walk(self.expression))

    @property
    def named_agents(self) -> list[str]:
        names = [n.agent_name for n in walk(self.expression)
                 if isinstance(n, Var) and n.agent_name is not None]
        return list(dict.fromkeys(names))


def compile_rules(rules: Sequence[DangerRule]) -> list[CompiledRule]:
    """Every rule parsed (the loader has already checked them)."""
    return [CompiledRule.from_config(rule) for rule in rules]


def declarations(scenario: Scenario) -> Declarations:
    return Declarations(
        global_vars={name: d.type for name, d in scenario.global_vars.items()},
        agent_vars={name: d.type for name, d in scenario.agent_vars.items()},
        agents=tuple(scenario.agent_names),
    )


def rule_issues(scenario: Scenario) -> list[ScenarioIssue]:
    """Every problem of ``scenario.danger.rules``, at ``danger.rules[i].<key>``."""
    if scenario.danger is None:
        return []
    declared = declarations(scenario)
    issues: list[ScenarioIssue] = []
    first: dict[str, int] = {}
    for index, rule in enumerate(scenario.danger.rules):
        path = f"danger.rules[{index}]"
        if rule.name in first:
            issues.append(ScenarioIssue(
                f"{path}.name", f"'{rule.name}' is already the name of danger.rules"
                f"[{first[rule.name]}]", "give every rule a different name"))
        first.setdefault(rule.name, index)
        try:
            check(parse(rule.when), declared)
        except ExpressionError as err:
            fix = err.hint or "write a condition such as \"tension >= 90\" or " \
                               "\"delta(agent.trust) < -0.2\""
            issues.append(ScenarioIssue(f"{path}.when", err.describe(), fix))
    return issues


# ------------------------------------------------------------------ evaluation


def evaluate_rules(
    rules: Sequence[CompiledRule],
    step: int,
    global_vars: Vars,
    agent_vars: AgentVars,
    previous_global: Vars | None = None,
    previous_agent: AgentVars | None = None,
) -> list[DangerSignal]:
    """The signals of ``rules`` at ``step``, in rule order (then agent order).

    ``previous_*`` are the variables before the step (None: there is no step
    before, so ``delta``/``prev`` have no value and crossing rules fire when true).
    """
    signals: list[DangerSignal] = []
    for rule in rules:
        agents: list[str | None] = list(agent_vars) if rule.per_agent else [None]
        for agent in agents:
            scope = Scope(global_vars, agent_vars, previous_global, previous_agent, agent)
            signal = evaluate_rule(rule, step, scope)
            if signal is not None:
                signals.append(signal)
    return signals


def evaluate_rule(rule: CompiledRule, step: int, scope: Scope) -> DangerSignal | None:
    """The rule's signal in ``scope``, or None (condition false, or no value).

    A ``crossing`` rule fires when its condition holds now but did not on the
    previous values; at step 0 (the world as the simulator set it up) it fires
    whenever it holds, so a world that starts in danger is reported.
    """
    if not _holds(rule.expression, scope):
        return None
    if rule.trigger == "crossing" and step > 0 and _held_before(rule.expression, scope):
        return None
    value, threshold = _measure(rule.expression, scope)
    named = rule.named_agents
    agent = scope.agent if rule.per_agent else named[0] if len(named) == 1 else None
    return DangerSignal(
        step=step, agent=agent, category=rule.category, metric=rule.when, value=value,
        threshold=threshold, severity=rule.severity, evidence=evidence(rule.expression, scope),
        source="rule", rule=rule.name,
    )


def _holds(expression: Node, scope: Scope) -> bool:
    try:
        return evaluate(expression, scope) is True
    except _FAILURES:
        return False


def _held_before(expression: Node, scope: Scope) -> bool:
    try:
        before = scope.before()
    except EvaluationError:
        return False
    return _holds(expression, before)


def _measure(expression: Node, scope: Scope) -> tuple[float | None, float | None]:
    """(value, threshold): the measured side and the constant of a simple comparison."""
    if not isinstance(expression, Binary) or expression.op not in _COMPARISONS:
        return None, None
    left, right = expression.left, expression.right
    if _constant(left) is not None and _constant(right) is None:
        left, right = right, left
    return _number_or_none(left, scope), _constant(right)


def _constant(node: Node) -> float | None:
    if isinstance(node, Const) and is_number(node.value):
        return node.value  # type: ignore[return-value]
    if isinstance(node, Unary) and node.op == "-":
        inner = _constant(node.operand)
        return None if inner is None else -inner
    return None


def _number_or_none(node: Node, scope: Scope) -> float | None:
    try:
        value = evaluate(node, scope)
    except _FAILURES:
        return None
    if isinstance(value, float):
        return round(value, 6)
    return value if is_number(value) else None


# -------------------------------------------------------------------- evidence


def evidence(expression: Node, scope: Scope) -> str:
    """The values the rule read: ``tension = 92; Helix Labs.capability = 58 (was 40)``."""
    changed = {_key(arg) for node in walk(expression) if isinstance(node, Call)
               and node.function in CHANGE_FUNCTIONS for arg in node.args
               if isinstance(arg, Var)}
    parts: dict[tuple[Any, ...], str] = {}
    for node in walk(expression):
        if isinstance(node, Var) and _key(node) not in parts:
            parts[_key(node)] = _describe(node, scope, _key(node) in changed)
    return "; ".join(parts.values())


def _key(var: Var) -> tuple[Any, ...]:
    return (var.scope, var.agent_name, var.name, var.keys)


def _describe(var: Var, scope: Scope, with_previous: bool) -> str:
    text = f"{var.spelled(scope.agent)} = {_show(_value(var, scope))}"
    if not with_previous:
        return text
    try:
        before = lookup(var, scope.before())
    except EvaluationError:
        return f"{text} (no previous value)"
    return f"{text} (was {_show(before)})"


def _value(var: Var, scope: Scope) -> Any:
    try:
        return lookup(var, scope)
    except EvaluationError:
        return None


def _show(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return f"{len(value)} entries"
    if isinstance(value, Mapping):
        return f"{len(value)} keys"
    shown = repr(value) if isinstance(value, str) else str(value)
    return shown if len(shown) <= 60 else shown[:59] + "…"

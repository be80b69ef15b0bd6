"""Checks a parsed rule against a scenario's declarations, before any run.

Every variable must be declared (with a "did you mean" for typos), named agents
must exist, and the types must fit loosely: arithmetic and ordering need
numbers, ``and``/``or``/``not`` need true/false, and the rule as a whole must
be a condition. Mapping (``dict``) entries are not declared, so their type is
unknown and accepted anywhere. Problems are :class:`ExpressionError` with
``syntax=False`` and the column of the part at fault.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from apart.danger.expressions import (
    CHANGE_FUNCTIONS,
    Binary,
    Call,
    Const,
    ExpressionError,
    Node,
    Unary,
    Var,
)

Kind = Literal["number", "bool", "str", "list", "dict", "any"]

_KIND_OF_TYPE: dict[str, Kind] = {
    "int": "number", "float": "number", "bool": "bool", "str": "str", "list": "list",
    "dict": "dict",
}
_WORDS: dict[Kind, str] = {
    "number": "a number", "bool": "true or false", "str": "text", "list": "a list",
    "dict": "a mapping", "any": "a value",
}
_ORDERING = frozenset({"<", "<=", ">", ">="})
_ARITHMETIC = frozenset({"+", "-", "*", "/"})


@dataclass(frozen=True)
class Declarations:
    """What a rule may refer to: variable types (``int``, ``float``, ...) and agent names."""

    global_vars: Mapping[str, str]
    agent_vars: Mapping[str, str]
    agents: Sequence[str] = ()


def check(node: Node, declared: Declarations) -> None:
    """Raise :class:`ExpressionError` unless ``node`` is a condition over declared variables."""
    kind = kind_of(node, declared)
    if kind not in ("bool", "any"):
        raise ExpressionError(
            f"the rule must be a condition (true or false), but it is {_WORDS[kind]}",
            _column(node), "compare it with a limit, as in 'tension >= 90'", syntax=False,
        )


def kind_of(node: Node, declared: Declarations) -> Kind:
    """The kind of value ``node`` stands for (raises on misuse)."""
    if isinstance(node, Const):
        if isinstance(node.value, bool):
            return "bool"
        return "str" if isinstance(node.value, str) else "number"
    if isinstance(node, Var):
        return _var_kind(node, declared)
    if isinstance(node, Call):
        return _call_kind(node, declared)
    if isinstance(node, Unary):
        wanted: Kind = "bool" if node.op == "not" else "number"
        _expect(node.operand, declared, wanted, f"'{node.op}'")
        return wanted
    return _binary_kind(node, declared)


def _binary_kind(node: Binary, declared: Declarations) -> Kind:
    if node.op in ("and", "or"):
        _expect(node.left, declared, "bool", f"'{node.op}'")
        _expect(node.right, declared, "bool", f"'{node.op}'")
        return "bool"
    if node.op in _ARITHMETIC or node.op in _ORDERING:
        _expect(node.left, declared, "number", f"'{node.op}'")
        _expect(node.right, declared, "number", f"'{node.op}'")
        return "number" if node.op in _ARITHMETIC else "bool"
    left, right = kind_of(node.left, declared), kind_of(node.right, declared)
    if "any" not in (left, right) and left != right:
        raise ExpressionError(
            f"'{node.op}' compares {_WORDS[left]} ({_show(node.left)}) with "
            f"{_WORDS[right]} ({_show(node.right)}), which is never equal",
            node.column, "compare values of the same kind", syntax=False,
        )
    return "bool"


def _expect(node: Node, declared: Declarations, wanted: Kind, user: str) -> None:
    kind = kind_of(node, declared)
    if kind not in (wanted, "any"):
        raise ExpressionError(
            f"{user} needs {_WORDS[wanted]}, but {_show(node)} is {_WORDS[kind]}",
            _column(node), _expect_hint(wanted), syntax=False,
        )


def _expect_hint(wanted: Kind) -> str:
    if wanted == "bool":
        return "compare it with a limit, as in 'tension >= 90'"
    return "use a number or a numeric variable (int or float) here"


def _call_kind(node: Call, declared: Declarations) -> Kind:
    name = node.function
    if name in CHANGE_FUNCTIONS:
        arg = node.args[0]
        if not isinstance(arg, Var):
            raise ExpressionError(f"{name}() takes a variable, not {_show(arg)}", _column(arg),
                                  f"write {name}(tension) or {name}(agent.trust)", syntax=False)
        if name == "prev":
            return kind_of(arg, declared)
        _expect(arg, declared, "number", f"{name}()")
        return "number"
    if name == "len":
        kind = kind_of(node.args[0], declared)
        if kind in ("number", "bool"):
            raise ExpressionError(f"len() needs text, a list or a mapping, but "
                                  f"{_show(node.args[0])} is {_WORDS[kind]}",
                                  _column(node.args[0]), "use len() on list variables",
                                  syntax=False)
        return "number"
    for arg in node.args:  # abs, min, max
        _expect(arg, declared, "number", f"{name}()")
    return "number"


def _var_kind(var: Var, declared: Declarations) -> Kind:
    if var.scope == "global":
        var_type = declared.global_vars.get(var.name)
        if var_type is None:
            raise _unknown_global(var, declared)
    else:
        if var.agent_name is not None and var.agent_name not in declared.agents:
            raise _unknown(f"unknown agent '{var.agent_name}'", var.agent_name,
                           list(declared.agents), var.column, "an agent of the scenario")
        var_type = declared.agent_vars.get(var.name)
        if var_type is None:
            raise _unknown_agent_var(var, declared)
    kind = _KIND_OF_TYPE.get(var_type, "any")
    if not var.keys:
        return kind
    if kind != "dict":
        raise ExpressionError(f"'{var.spelled()}' has no keys: it is {_WORDS[kind]}",
                              var.column, f"write just {var.spelled().split('.')[0]}"
                              if var.scope == "global" else "remove the key", syntax=False)
    return "any"


def _unknown_global(var: Var, declared: Declarations) -> ExpressionError:
    if var.name in declared.agent_vars:
        return ExpressionError(
            f"'{var.name}' is an agent variable", var.column,
            f"write agent.{var.name} (each agent) or agent[\"Name\"].{var.name}", syntax=False,
        )
    return _unknown(f"unknown variable '{var.name}'", var.name, list(declared.global_vars),
                    var.column, "a variable declared under global_vars")


def _unknown_agent_var(var: Var, declared: Declarations) -> ExpressionError:
    if var.name in declared.global_vars:
        return ExpressionError(f"'{var.name}' is a global variable, not an agent variable",
                               var.column, f"write just {var.name}", syntax=False)
    return _unknown(f"unknown agent variable '{var.name}'", var.name,
                    list(declared.agent_vars), var.column, "a variable declared under agent_vars")


def _unknown(problem: str, word: str, known: list[str], column: int,
             what: str) -> ExpressionError:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return ExpressionError(f"{problem} (did you mean '{close[0]}'?)", column,
                               f"rename it to '{close[0]}'", syntax=False)
    listed = ", ".join(known[:12]) if known else "none"
    return ExpressionError(problem, column, f"use {what} (declared: {listed})", syntax=False)


def _show(node: Node) -> str:
    if isinstance(node, Var):
        return f"'{node.spelled()}'"
    if isinstance(node, Const):
        return repr(node.value) if not isinstance(node.value, bool) else str(node.value).lower()
    if isinstance(node, Call):
        return f"{node.function}(...)"
    return f"the part at column {_column(node)}"


def _column(node: Node) -> int:
    """Where ``node`` starts (the leftmost column of a binary expression)."""
    while isinstance(node, Binary):
        node = node.left
    return node.column

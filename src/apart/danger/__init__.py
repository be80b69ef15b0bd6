"""Danger signals (issue 5): rules on variables, a detector over answers, an LLM judge.

Entry point: :class:`DangerMonitor` (``from_scenario``, ``assess``,
``should_pause``). The parts are usable alone: :func:`evaluate_rules`,
:func:`detect`, :func:`judge`, and the safe expression language of
:mod:`apart.danger.expressions` (no ``eval``).
"""

from apart.danger.detector import detect
from apart.danger.evaluation import EvaluationError, Scope, evaluate
from apart.danger.expressions import ExpressionError, parse
from apart.danger.judge import judge
from apart.danger.monitor import DangerMonitor, JudgeSetup
from apart.danger.rules import CompiledRule, compile_rules, evaluate_rules, rule_issues
from apart.danger.signals import (
    CATEGORIES,
    SEVERITIES,
    DangerSignal,
    Severity,
    Source,
    at_least,
    most_severe,
    severity_rank,
)

__all__ = [
    "CATEGORIES",
    "SEVERITIES",
    "CompiledRule",
    "DangerMonitor",
    "DangerSignal",
    "EvaluationError",
    "ExpressionError",
    "JudgeSetup",
    "Scope",
    "Severity",
    "Source",
    "at_least",
    "compile_rules",
    "detect",
    "evaluate",
    "evaluate_rules",
    "judge",
    "most_severe",
    "parse",
    "rule_issues",
    "severity_rank",
]

"""The rule expression language: a safe tokenizer, parser and evaluator (no eval)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apart.danger.evaluation import EvaluationError, Scope, evaluate
from apart.danger.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    Binary,
    Call,
    Const,
    ExpressionError,
    Unary,
    Var,
    parse,
)

GLOBALS = {"tension": 92, "trust": 0.25, "open": True, "phase": "war", "zero": 0,
           "headlines": ["a", "b", "c"], "prices": {"gpu": 4.5}}
AGENTS = {"Helix Labs": {"capability": 58.0, "ok": False}, "Beta": {"capability": 40.0, "ok": True}}
BEFORE_GLOBALS = {**GLOBALS, "tension": 85, "trust": 0.5}
BEFORE_AGENTS = {"Helix Labs": {"capability": 40.0, "ok": True}, "Beta": {"capability": 41.0,
                                                                       "ok": True}}


def value_of(text: str, agent: str | None = None, previous: bool = True) -> object:
    scope = Scope(GLOBALS, AGENTS, BEFORE_GLOBALS if previous else None,
                  BEFORE_AGENTS if previous else None, agent)
    return evaluate(parse(text), scope)


def error_of(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    return caught.value


# -- constructs -------------------------------------------------------------------------


def test_a_number_parses_to_an_int_or_a_float_constant() -> None:
    assert parse("90") == Const(90, 1)
    assert isinstance(parse("90").value, int)  # type: ignore[union-attr]
    assert parse("0.5") == Const(0.5, 1)
    assert parse(".5") == Const(0.5, 1)
    assert parse("1e3") == Const(1000.0, 1)


def test_true_false_and_quoted_text_are_constants() -> None:
    assert parse("true") == Const(True, 1)
    assert parse("false") == Const(False, 1)
    assert parse('"war"') == Const("war", 1)
    assert parse("'it\\'s'") == Const("it's", 1)


def test_a_bare_name_is_a_global_variable_and_dots_index_a_mapping() -> None:
    assert parse("tension") == Var("global", "tension", None, (), 1)
    assert parse("prices.gpu") == Var("global", "prices", None, ("gpu",), 1)


def test_agent_dot_name_means_each_agent_and_brackets_name_one_agent() -> None:
    assert parse("agent.trust") == Var("agent", "trust", None, (), 1)
    assert parse('agent["Helix Labs"].capability') == Var("agent", "capability", "Helix Labs",
                                                          (), 1)


def test_comparisons_parse_with_the_column_of_the_operator() -> None:
    for op in ("<", "<=", ">", ">=", "==", "!="):
        node = parse(f"tension {op} 90")
        assert isinstance(node, Binary) and node.op == op and node.column == 9


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    node = parse("a or b and not c")
    assert isinstance(node, Binary) and node.op == "or"
    assert isinstance(node.right, Binary) and node.right.op == "and"
    assert isinstance(node.right.right, Unary) and node.right.right.op == "not"


def test_multiplication_binds_tighter_than_addition_and_parentheses_override() -> None:
    assert value_of("2 + 3 * 4 == 14") is True
    assert value_of("(2 + 3) * 4 == 20") is True
    assert value_of("10 - 4 - 3 == 3") is True  # left associative
    assert value_of("8 / 4 / 2 == 1") is True


def test_unary_minus_negates_numbers() -> None:
    assert parse("-5") == Unary("-", Const(5, 2), 1)
    assert value_of("-tension < -90") is True
    assert value_of("- -3 == 3") is True


def test_function_calls_parse_with_their_arguments() -> None:
    node = parse("max(tension, 3, 4)")
    assert isinstance(node, Call) and node.function == "max" and len(node.args) == 3
    assert parse("delta(agent.trust)") == Call("delta", (Var("agent", "trust", None, (), 7),), 1)


# -- evaluation -----------------------------------------------------------------------


def test_comparisons_evaluate_on_the_current_values() -> None:
    assert value_of("tension >= 90") is True
    assert value_of("tension > 92") is False
    assert value_of("tension <= 92 and tension < 93") is True
    assert value_of("tension != 92") is False


def test_equality_works_on_text_and_booleans_and_never_mixes_kinds() -> None:
    assert value_of('phase == "war"') is True
    assert value_of('phase != "peace"') is True
    assert value_of("open == true") is True
    assert value_of("open == 1") is False  # true is not 1
    assert value_of("2 == 2.0") is True


def test_and_or_not_combine_conditions() -> None:
    assert value_of("tension > 90 and trust < 0.5") is True
    assert value_of("tension > 95 or trust < 0.5") is True
    assert value_of("not (tension > 90)") is False
    assert value_of("tension > 95 and trust < 0.5") is False


def test_abs_min_max_and_len_compute_values() -> None:
    assert value_of("abs(-3) == 3") is True
    assert value_of("min(tension, 50) == 50") is True
    assert value_of("max(tension, 50, 99) == 99") is True
    assert value_of("len(headlines) == 3") is True
    assert value_of('len(phase) == 3') is True


def test_delta_is_now_minus_before_and_prev_is_the_value_before() -> None:
    assert value_of("delta(tension) == 7") is True
    assert value_of("prev(tension) == 85") is True
    assert value_of("delta(trust) < 0") is True


def test_agent_dot_var_reads_the_agent_being_evaluated() -> None:
    assert value_of("delta(agent.capability) > 15", agent="Helix Labs") is True
    assert value_of("delta(agent.capability) > 15", agent="Beta") is False


def test_a_named_agent_is_read_whatever_agent_is_being_evaluated() -> None:
    assert value_of('agent["Helix Labs"].capability > agent["Beta"].capability') is True
    assert value_of('agent["Beta"].ok and not agent["Helix Labs"].ok') is True


def test_a_mapping_key_is_read_with_a_dot() -> None:
    assert value_of("prices.gpu > 4") is True


@pytest.mark.parametrize("text", [
    "tension / zero > 1",  # division by zero
    "delta(tension) > 1",  # no previous step
    "prev(tension) > 1",
    "agent.capability > 1",  # no agent given
    'agent["Ghost"].capability > 1',  # an agent missing from the state
    "prices.cpu > 1",  # a missing key
    "tension.x > 1",  # a number has no keys
    "phase > 1",  # text is not a number
    "tension and true",  # a number is not a condition
    "1e308 * 10 > 1",  # overflow to infinity
])
def test_a_rule_without_a_value_on_the_data_raises_evaluation_error(text: str) -> None:
    with pytest.raises(EvaluationError):
        value_of(text, previous=False)


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "column", "words"), [
    ("tension >= ", 12, "expected a value"),
    ("tension >=", 11, "found the end of the rule"),
    ("1 +* 2", 4, "found '*'"),
    ("(tension > 1", 1, "'(' is not closed"),
    ("tension > 1)", 12, "')' without a matching '('"),
    ("tension 90", 9, "expected an operator"),
    ("0 < tension < 5", 13, "comparisons cannot be chained"),
    ("tension && x", 9, "unexpected character '&'"),
    ("tension || x", 9, "unexpected character '|'"),
    ("!open", 1, "unexpected character '!'"),
    ("tension = 3", 9, "unexpected character '='"),
    ("tension > $5", 11, "unexpected character '$'"),
    ('phase == "war', 10, "text is not closed"),
    ("True", 1, "unknown word 'True'"),
    ("tension > 1 AND open", 13, "unknown word 'AND'"),
    ("and > 1", 1, "expected a value"),
    ("foo(1)", 1, "unknown function 'foo'"),
    ("abs(1, 2) > 0", 1, "abs() takes 1 argument, got 2"),
    ("max(1) > 0", 1, "max() takes 2 to 8 arguments, got 1"),
    ("abs(1 > 0", 10, "expected ')' to close the call of abs()"),
    ("agent > 1", 7, "expected '.' and a variable after 'agent'"),
    ("agent[Helix].x > 1", 7, "expected an agent name in quotes"),
    ('agent["Helix".x > 1', 14, "expected ']'"),
    ("agent. > 1", 8, "expected a variable name"),
    ("prices. > 1", 9, "expected a key"),
    ("3tension > 1", 1, "a name cannot start with a digit"),
])
def test_a_syntax_error_names_the_problem_and_its_column(text: str, column: int,
                                                          words: str) -> None:
    err = error_of(text)
    assert err.column == column
    assert words in err.message
    assert str(err).startswith(f"syntax error at column {column}: ")


def test_a_mistaken_symbol_comes_with_a_hint() -> None:
    assert error_of("a && b").hint == "write 'and' instead of '&&'"
    assert error_of("a = 1").hint == "write '==' to compare"
    assert error_of("a > 1 Or b").hint == "write 'or' in lower case"
    assert "a < b and b < c" in error_of("1 < 2 < 3").hint


def test_an_empty_rule_is_an_error() -> None:
    assert error_of("   ").message == "the rule is empty"


def test_an_overlong_or_overnested_rule_is_refused_without_a_crash() -> None:
    assert "longer than" in error_of("1" * (MAX_LENGTH + 1)).message
    assert "nests deeper" in error_of("(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5)).message
    assert "nests deeper" in error_of("not " * (MAX_DEPTH + 5) + "true").message
    assert "nests deeper" in error_of("-" * (MAX_DEPTH + 5) + "1 > 0").message


# -- no eval ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "__import__('os')",
    "__import__('os').system('echo hacked') == 0",
    "open('/etc/passwd')",
    "eval('1') > 0",
    "exec('x=1')",
    "(lambda: 1)() == 1",
    "tension.__class__ == 1",
    "[x for x in ()] == 1",
    "tension if true else 1",
    "tension ** 2 > 1",
    "tension; import os",
])
def test_python_code_is_a_syntax_error_never_executed(text: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert caught.value.syntax
    assert caught.value.column >= 1


def test_names_starting_with_two_underscores_are_refused() -> None:
    err = error_of("tension.__class__ == 1")
    assert err.column == 9 and "'__class__'" in err.message
    assert error_of("__builtins__ > 1").column == 1


def test_an_ordinary_name_is_only_ever_looked_up_in_the_variables() -> None:
    node = parse("system > 1")
    assert node == Binary(">", Var("global", "system", None, (), 1), Const(1, 10), 8)
    with pytest.raises(EvaluationError):
        evaluate(node, Scope({}, {}))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1.()<=>!&|+-*/ \"'[],_agentdlrsvx")),
               max_size=40))
def test_any_text_either_parses_or_raises_expression_error(text: str) -> None:
    try:
        node = parse(text)
    except ExpressionError:
        return
    try:
        evaluate(node, Scope({"a": 1, "b": 2}, {"x": {"a": 1}}, {"a": 0, "b": 0}, {}, "x"))
    except EvaluationError:
        pass

"""What a valid scenario becomes: typed defaults, coerced overrides, a player for every agent."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apart.errors import ScenarioError
from apart.scenario import LLMConfig, VarDef, VarValueError, coerce_value, load_scenario_text

AGENT = "agents:\n  - {name: Alpha, response_template: ok}\n"


def default_of(definition: str) -> Any:
    scenario = load_scenario_text(f"global_vars:\n  v: {definition}\n" + AGENT)
    return scenario.initial_global_vars()["v"]


# -- defaults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ("{type: int}", 0),
        ("{type: float}", 0.0),
        ("{type: bool}", False),
        ("{type: str}", ""),
        ("{type: list}", []),
        ("{type: dict}", {}),
        ("{type: str, default: null}", ""),
    ],
)
def test_a_missing_default_is_the_zero_of_the_type(definition: str, expected: Any) -> None:
    value = default_of(definition)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ("{type: int, min: 5, max: 10}", 5),
        ("{type: int, min: -10, max: -3}", -3),
        ("{type: float, min: 0.25}", 0.25),
        ("{type: float, max: -1}", -1.0),
    ],
)
def test_a_missing_numeric_default_is_moved_into_the_bounds(definition: str, expected: Any) -> None:
    value = default_of(definition)
    assert value == expected
    assert type(value) is type(expected)


def test_a_whole_float_default_of_an_int_variable_becomes_an_int() -> None:
    value = default_of("{type: int, default: 3.0}")
    assert value == 3
    assert type(value) is int


def test_an_int_default_of_a_float_variable_becomes_a_float() -> None:
    value = default_of("{type: float, default: 3}")
    assert value == 3.0
    assert type(value) is float


def test_defaults_of_every_agent_are_fresh_copies() -> None:
    text = "agent_vars:\n  notes: {type: list, default: [a]}\n" + (
        "agents:\n  - {name: A, response_template: x}\n  - {name: B, response_template: x}\n"
    )
    values = load_scenario_text(text).initial_agent_vars()
    values["A"]["notes"].append("b")
    assert values["B"]["notes"] == ["a"]


# -- overrides ------------------------------------------------------------------------


AGENT_VARS = """
agent_vars:
  trust: {type: float, default: 0.5, min: 0.0, max: 1.0}
  troops: {type: int, default: 10, min: 0}
"""


def test_overrides_are_coerced_to_the_declared_type() -> None:
    text = AGENT_VARS + (
        "agents:\n  - {name: A, response_template: x, variables: {trust: 1, troops: 3.0}}\n"
    )
    scenario = load_scenario_text(text)
    values = scenario.initial_agent_vars()["A"]
    assert values == {"trust": 1.0, "troops": 3}
    assert type(values["trust"]) is float
    assert type(values["troops"]) is int
    assert scenario.agent("A").variables == {"trust": 1.0, "troops": 3}


def test_every_agent_has_every_agent_variable_from_the_start() -> None:
    text = AGENT_VARS + (
        "agents:\n  - {name: A, response_template: x, variables: {troops: 4}}\n"
        "  - {name: B, response_template: x}\n"
    )
    assert load_scenario_text(text).initial_agent_vars() == {
        "A": {"trust": 0.5, "troops": 4},
        "B": {"trust": 0.5, "troops": 10},
    }


# -- who plays each agent ---------------------------------------------------------------


def test_an_agent_with_neither_llm_nor_template_is_played_by_the_engine_llm() -> None:
    text = """
engine: {provider: ollama, model: llama3, base_url: "http://gpu:11434", temperature: 0.2}
agents:
  - {name: A, system_prompt: hi}
"""
    llm = load_scenario_text(text).agent("A").llm
    assert llm == LLMConfig(provider="ollama", model="llama3", base_url="http://gpu:11434",
                            temperature=0.2)


def test_a_template_agent_keeps_no_llm_and_an_llm_agent_keeps_its_own() -> None:
    text = """
engine: {provider: scripted}
agents:
  - {name: T, response_template: fixed}
  - {name: L, llm: {provider: anthropic, model: claude}}
"""
    scenario = load_scenario_text(text)
    assert scenario.agent("T").llm is None
    assert scenario.agent("L").llm == LLMConfig(provider="anthropic", model="claude")


def test_null_sections_are_empty_sections() -> None:
    text = "engine:\nglobal_vars:\nagent_vars:\nagents:\n  - name: A\n    variables:\n"
    scenario = load_scenario_text(text)
    assert scenario.global_vars == {}
    assert scenario.agent("A").variables == {}
    assert scenario.agent("A").llm == LLMConfig()


# -- the value helpers the simulator can share ----------------------------------------


@given(st.integers(min_value=-50, max_value=150))
def test_an_int_variable_accepts_exactly_the_values_within_its_bounds(value: int) -> None:
    definition = VarDef(type="int", default=0, min=0, max=100)
    if 0 <= value <= 100:
        assert definition.accept(value) == value
        assert definition.accept(float(value)) == value
    else:
        with pytest.raises(VarValueError):
            definition.accept(value)
    assert 0 <= definition.clamp(value) <= 100


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_a_float_variable_clamps_into_its_bounds(value: float) -> None:
    clamped = VarDef(type="float", min=-1.0, max=1.0).clamp(value)
    assert -1.0 <= clamped <= 1.0
    assert clamped == value or abs(value) > 1.0


def test_booleans_are_never_numbers_and_nan_is_not_a_float() -> None:
    for var_type in ("int", "float"):
        with pytest.raises(VarValueError):
            coerce_value(var_type, True)
    with pytest.raises(VarValueError):
        coerce_value("float", math.nan)


def test_var_defs_built_in_code_are_checked_too() -> None:
    with pytest.raises(ValueError, match="120 is above max 100"):
        VarDef(type="int", default=120, max=100)


def test_a_valid_scenario_raises_no_error() -> None:
    try:
        load_scenario_text(AGENT_VARS + AGENT)
    except ScenarioError as err:  # pragma: no cover - the failure message is the point
        pytest.fail(str(err))

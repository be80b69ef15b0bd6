"""Applying a validated turn: new dicts, clamps to bounds, changes (DESIGN §4)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apart.scenario.schema import AgentConfig, Scenario, VarDef
from apart.sim.contract import SimulatorTurn, validate_turn
from apart.sim.world import Change, Clamp, apply_turn, clamp_feedback, clamp_value

SCENARIO = Scenario(
    max_steps=3,
    global_vars={
        "tension": VarDef(type="int", default=20, min=0, max=100),
        "oil_price": VarDef(type="float", default=80.0, min=10.0, max=200.0),
        "crisis": VarDef(type="bool", default=False),
        "alliances": VarDef(type="list", default=[["A", "B"]]),
        "open_ended": VarDef(type="int", default=5),
    },
    agent_vars={
        "trust": VarDef(type="float", default=0.5, min=0.0, max=1.0),
        "troops": VarDef(type="int", default=10, min=0, max=50),
    },
    agents=[
        AgentConfig(name="Alpha", response_template="x", variables={"trust": 0.8}),
        AgentConfig(name="Beta", response_template="x"),
    ],
)


def turn(
    global_updates: dict[str, Any] | None = None,
    agent_updates: dict[str, dict[str, Any]] | None = None,
) -> SimulatorTurn:
    return SimulatorTurn(
        global_updates=global_updates or {},
        agent_updates=agent_updates or {},
        events=[],
        messages={"Alpha": "a", "Beta": "b"},
        reasoning="",
    )


def apply(
    global_updates: dict[str, Any] | None = None,
    agent_updates: dict[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[Change], list[Clamp]]:
    return apply_turn(
        SCENARIO.initial_global_vars(),
        SCENARIO.initial_agent_vars(),
        turn(global_updates, agent_updates),
        SCENARIO,
    )


def test_updates_within_bounds_are_applied_and_recorded_as_changes() -> None:
    globals_, agents, changes, clamps = apply({"tension": 35}, {"Beta": {"trust": 0.25}})
    assert globals_["tension"] == 35
    assert agents["Beta"]["trust"] == 0.25
    assert agents["Alpha"] == {"trust": 0.8, "troops": 10}
    assert changes == [
        Change("global", "tension", 20, 35),
        Change("Beta", "trust", 0.5, 0.25),
    ]
    assert clamps == []


def test_an_int_above_max_is_clamped_to_max_and_stays_an_int() -> None:
    globals_, _, changes, clamps = apply({"tension": 130})
    assert globals_["tension"] == 100
    assert type(globals_["tension"]) is int
    assert clamps == [Clamp("global", "tension", 130, 100, "max")]
    assert changes == [Change("global", "tension", 20, 100)]


def test_an_int_below_min_is_clamped_to_min() -> None:
    _, agents, _, clamps = apply(agent_updates={"Alpha": {"troops": -4}})
    assert agents["Alpha"]["troops"] == 0
    assert type(agents["Alpha"]["troops"]) is int
    assert clamps == [Clamp("Alpha", "troops", -4, 0, "min")]


def test_a_float_above_max_is_clamped_to_max() -> None:
    _, agents, _, clamps = apply(agent_updates={"Beta": {"trust": 1.4}})
    assert agents["Beta"]["trust"] == 1.0
    assert type(agents["Beta"]["trust"]) is float
    assert clamps == [Clamp("Beta", "trust", 1.4, 1.0, "max")]


def test_a_float_below_min_is_clamped_to_min() -> None:
    globals_, _, _, clamps = apply({"oil_price": 2.5})
    assert globals_["oil_price"] == 10.0
    assert type(globals_["oil_price"]) is float
    assert clamps == [Clamp("global", "oil_price", 2.5, 10.0, "min")]


def test_values_exactly_on_the_bounds_are_not_clamped() -> None:
    _, _, _, clamps = apply({"tension": 100, "oil_price": 10.0}, {"Beta": {"trust": 0.0}})
    assert clamps == []


def test_a_number_without_bounds_is_never_clamped() -> None:
    globals_, _, _, clamps = apply({"open_ended": -10**9})
    assert globals_["open_ended"] == -10**9
    assert clamps == []


def test_step_zero_uses_the_same_clamping_on_the_initial_world() -> None:
    initial = validate_turn(
        {
            "state_updates": {"global_vars": {"tension": 250.0}},
            "agent_messages": {"Alpha": "Welcome", "Beta": "Welcome"},
        },
        SCENARIO,
    )
    globals_, _, _, clamps = apply_turn(
        SCENARIO.initial_global_vars(), SCENARIO.initial_agent_vars(), initial, SCENARIO
    )
    assert globals_["tension"] == 100
    assert clamps == [Clamp("global", "tension", 250, 100, "max")]


def test_float_written_bounds_of_an_int_variable_clamp_to_ints() -> None:
    definition = VarDef(type="int", default=1, min=0.0, max=3.0)
    assert clamp_value(9, definition) == (3, "max")
    assert clamp_value(-9, definition) == (0, "min")
    assert all(type(clamp_value(v, definition)[0]) is int for v in (9, -9, 2))


def test_an_infinite_bound_of_an_int_variable_is_harmless() -> None:
    definition = VarDef(type="int", default=1, min=0, max=float("inf"))
    assert clamp_value(10**12, definition) == (10**12, None)
    assert clamp_value(-1, definition) == (0, "min")


def test_non_numeric_variables_are_never_clamped() -> None:
    assert clamp_value(True, VarDef(type="bool", default=False)) == (True, None)
    assert clamp_value("x", VarDef(type="str", default="")) == ("x", None)


def test_a_no_op_update_records_no_change() -> None:
    _, _, changes, clamps = apply({"tension": 20, "crisis": False}, {"Alpha": {"trust": 0.8}})
    assert changes == []
    assert clamps == []


def test_a_clamp_that_lands_on_the_current_value_records_a_clamp_but_no_change() -> None:
    state = SCENARIO.initial_global_vars() | {"tension": 100}
    _, _, changes, clamps = apply_turn(
        state, SCENARIO.initial_agent_vars(), turn({"tension": 140}), SCENARIO
    )
    assert changes == []
    assert clamps == [Clamp("global", "tension", 140, 100, "max")]


def test_a_bool_replacing_an_equal_number_is_a_change() -> None:
    state = SCENARIO.initial_global_vars() | {"crisis": 0}
    _, _, changes, _ = apply_turn(
        state, SCENARIO.initial_agent_vars(), turn({"crisis": False}), SCENARIO
    )
    assert changes == [Change("global", "crisis", 0, False)]


def test_the_inputs_are_never_mutated_and_the_outputs_share_nothing_with_them() -> None:
    globals_in = SCENARIO.initial_global_vars()
    agents_in = SCENARIO.initial_agent_vars()
    globals_before = copy.deepcopy(globals_in)
    agents_before = copy.deepcopy(agents_in)
    new_alliances = [["A", "C"]]
    the_turn = turn(
        {"tension": 130, "alliances": new_alliances}, {"Beta": {"troops": 60, "trust": 0.1}}
    )
    globals_out, agents_out, changes, _ = apply_turn(globals_in, agents_in, the_turn, SCENARIO)

    assert globals_in == globals_before
    assert agents_in == agents_before
    assert the_turn.global_updates == {"tension": 130, "alliances": [["A", "C"]]}
    globals_out["alliances"][0].append("D")
    agents_out["Alpha"]["trust"] = 0.0
    assert new_alliances == [["A", "C"]]
    assert changes[1].new == [["A", "C"]]
    assert agents_in["Alpha"]["trust"] == 0.8
    assert globals_in["alliances"] == [["A", "B"]]


def test_changes_and_clamps_follow_declaration_order_not_the_update_order() -> None:
    the_turn = turn(
        {"crisis": True, "oil_price": 500.0, "tension": -1},
        {"Beta": {"troops": 99, "trust": -1.0}, "Alpha": {"troops": 51}},
    )
    _, _, changes, clamps = apply_turn(
        SCENARIO.initial_global_vars(), SCENARIO.initial_agent_vars(), the_turn, SCENARIO
    )
    assert [(c.scope, c.variable) for c in changes] == [
        ("global", "tension"),
        ("global", "oil_price"),
        ("global", "crisis"),
        ("Alpha", "troops"),
        ("Beta", "trust"),
        ("Beta", "troops"),
    ]
    assert [(c.scope, c.variable, c.bound) for c in clamps] == [
        ("global", "tension", "min"),
        ("global", "oil_price", "max"),
        ("Alpha", "troops", "max"),
        ("Beta", "trust", "min"),
        ("Beta", "troops", "max"),
    ]


def test_agents_and_variables_the_scenario_does_not_know_are_kept_untouched() -> None:
    agents_in = SCENARIO.initial_agent_vars() | {"Retired": {"trust": 0.3}}
    globals_in = SCENARIO.initial_global_vars() | {"legacy": 1}
    globals_out, agents_out, _, _ = apply_turn(globals_in, agents_in, turn(), SCENARIO)
    assert globals_out["legacy"] == 1
    assert agents_out["Retired"] == {"trust": 0.3}


def test_a_turn_naming_undeclared_variables_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"global\.gdp, agent Gamma, Alpha\.morale"):
        apply_turn(
            SCENARIO.initial_global_vars(),
            SCENARIO.initial_agent_vars(),
            turn({"gdp": 1}, {"Gamma": {"trust": 1.0}, "Alpha": {"morale": 1}}),
            SCENARIO,
        )


def test_clamps_and_changes_convert_to_and_from_dicts() -> None:
    clamp = Clamp("Alpha", "trust", 1.4, 1.0, "max")
    change = Change("global", "alliances", [["A"]], [["A", "B"]])
    assert clamp.to_dict() == {
        "scope": "Alpha", "variable": "trust", "requested": 1.4, "applied": 1.0, "bound": "max"
    }
    assert change.to_dict() == {
        "scope": "global", "variable": "alliances", "old": [["A"]], "new": [["A", "B"]]
    }
    assert Clamp.from_dict(clamp.to_dict()) == clamp
    assert Change.from_dict(change.to_dict()) == change


def test_clamp_feedback_is_empty_without_clamps() -> None:
    assert clamp_feedback([]) == ""


def test_clamp_feedback_names_each_clamped_update() -> None:
    _, _, _, clamps = apply({"tension": 130}, {"Alpha": {"trust": 1.4, "troops": -3}})
    assert clamp_feedback(clamps) == (
        "Last step these updates were out of bounds and were clamped: "
        "tension 130 -> 100 (max); Alpha.trust 1.4 -> 1.0 (max); Alpha.troops -3 -> 0 (min). "
        "Keep updates within each variable's min and max."
    )


def test_clamp_feedback_stays_short_with_many_clamps() -> None:
    clamps = [Clamp(f"Agent{i}", "trust", 1.5 + i, 1.0, "max") for i in range(200)]
    text = clamp_feedback(clamps)
    assert "and 180 more" in text
    assert len(text) < 1000

"""Danger rules on variables: checked against the scenario, evaluated after each step."""

from __future__ import annotations

import pytest

from apart.danger.checking import Declarations, check
from apart.danger.expressions import ExpressionError, parse
from apart.danger.rules import CompiledRule, evaluate_rules
from apart.scenario.schema import DangerRule

DECLARED = Declarations(
    global_vars={"tension": "int", "trust": "float", "open": "bool", "phase": "str",
                 "headlines": "list", "prices": "dict"},
    agent_vars={"capability": "float", "ready": "bool"},
    agents=("Helix Labs", "Beta"),
)


def rule(when: str, name: str = "r", trigger: str = "crossing", **extra: str) -> CompiledRule:
    config = DangerRule.model_validate({"name": name, "when": when, "trigger": trigger, **extra})
    return CompiledRule.from_config(config)


def check_error(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        check(parse(text), DECLARED)
    assert not caught.value.syntax
    return caught.value


# -- checking against the declarations ---------------------------------------------------


@pytest.mark.parametrize("text", [
    "tension >= 90",
    "delta(agent.capability) > 15",
    'agent["Helix Labs"].capability > 50 and not open',
    'phase == "war" or trust < 0.2',
    "len(headlines) > 3",
    "prices.gpu > 4",  # mapping entries are not declared: accepted
    "agent.ready",
    "prev(agent.ready) != agent.ready",
    "abs(delta(trust)) >= 0.1",
    "tension / max(trust, 0.1) > 100",
])
def test_a_well_formed_rule_over_declared_variables_passes_the_check(text: str) -> None:
    check(parse(text), DECLARED)


def test_an_unknown_variable_suggests_the_closest_declared_one() -> None:
    err = check_error("tension2 >= 90")
    assert err.message == "unknown variable 'tension2' (did you mean 'tension'?)"
    assert err.hint == "rename it to 'tension'"
    assert err.column == 1


def test_an_unknown_variable_with_nothing_close_lists_the_declared_ones() -> None:
    err = check_error("tension > 1 and zzz > 1")
    assert err.message == "unknown variable 'zzz'" and err.column == 17
    assert "declared: tension, trust" in err.hint


def test_an_agent_variable_used_as_a_global_says_how_to_write_it() -> None:
    err = check_error("capability > 50")
    assert err.message == "'capability' is an agent variable"
    assert "agent.capability" in err.hint


def test_a_global_variable_used_as_an_agent_variable_says_how_to_write_it() -> None:
    assert check_error("agent.tension > 1").message == (
        "'tension' is a global variable, not an agent variable")


def test_an_unknown_agent_variable_and_an_unknown_agent_are_errors() -> None:
    assert check_error("agent.capabilty > 1").message == (
        "unknown agent variable 'capabilty' (did you mean 'capability'?)")
    assert check_error('agent["Helix"].capability > 1').message == (
        "unknown agent 'Helix' (did you mean 'Helix Labs'?)")


@pytest.mark.parametrize(("text", "words"), [
    ("tension", "must be a condition (true or false), but it is a number"),
    ("tension + 1", "must be a condition"),
    ("tension and open", "'and' needs true or false, but 'tension' is a number"),
    ("not tension", "'not' needs true or false"),
    ("phase > 1", "'>' needs a number, but 'phase' is text"),
    ("open + 1 > 0", "'+' needs a number, but 'open' is true or false"),
    ("-open", "'-' needs a number"),
    ('tension == "high"', "compares a number ('tension') with text ('high')"),
    ("delta(phase) > 1", "delta() needs a number, but 'phase' is text"),
    ("delta(tension + 1) > 1", "delta() takes a variable"),
    ("prev(3) > 1", "prev() takes a variable"),
    ("len(tension) > 1", "len() needs text, a list or a mapping"),
    ("tension.level > 1", "'tension.level' has no keys"),
    ("abs(open) > 1", "abs() needs a number"),
])
def test_a_rule_of_the_wrong_kind_is_refused_with_the_reason(text: str, words: str) -> None:
    assert words in check_error(text).message


# -- evaluation ----------------------------------------------------------------------------

NOW = {"tension": 92, "trust": 0.4}
BEFORE = {"tension": 85, "trust": 0.5}
AGENTS_NOW = {"Helix Labs": {"capability": 58.0}, "Beta": {"capability": 42.0}}
AGENTS_BEFORE = {"Helix Labs": {"capability": 40.0}, "Beta": {"capability": 41.0}}


def test_a_threshold_rule_fires_when_the_threshold_is_crossed() -> None:
    [signal] = evaluate_rules([rule("tension >= 90", name="tension_critical",
                                    category="escalation", severity="high")],
                              3, NOW, AGENTS_NOW, BEFORE, AGENTS_BEFORE)
    assert signal.step == 3 and signal.agent is None
    assert signal.category == "escalation" and signal.severity == "high"
    assert signal.metric == "tension >= 90"
    assert signal.value == 92 and signal.threshold == 90
    assert signal.evidence == "tension = 92"
    assert signal.source == "rule" and signal.rule == "tension_critical"


def test_a_threshold_rule_below_its_threshold_gives_no_signal() -> None:
    assert evaluate_rules([rule("tension >= 95")], 3, NOW, AGENTS_NOW, BEFORE,
                          AGENTS_BEFORE) == []


def test_a_crossing_rule_stays_quiet_while_the_condition_keeps_holding() -> None:
    still_high = {"tension": 95, "trust": 0.4}
    assert evaluate_rules([rule("tension >= 90")], 4, still_high, AGENTS_NOW, NOW,
                          AGENTS_NOW) == []


def test_an_always_rule_fires_on_every_step_it_holds() -> None:
    still_high = {"tension": 95, "trust": 0.4}
    signals = evaluate_rules([rule("tension >= 90", trigger="always")], 4, still_high,
                             AGENTS_NOW, NOW, AGENTS_NOW)
    assert [s.value for s in signals] == [95]


def test_a_crossing_rule_fires_at_step_0_when_the_world_starts_in_danger() -> None:
    signals = evaluate_rules([rule("tension >= 90")], 0, NOW, AGENTS_NOW, NOW, AGENTS_NOW)
    assert len(signals) == 1


def test_a_crossing_rule_without_a_previous_step_fires_when_it_holds() -> None:
    assert len(evaluate_rules([rule("tension >= 90")], 5, NOW, AGENTS_NOW)) == 1


def test_a_constant_on_the_left_still_gives_the_measured_value_and_the_threshold() -> None:
    [signal] = evaluate_rules([rule("90 <= tension")], 3, NOW, AGENTS_NOW, BEFORE, AGENTS_BEFORE)
    assert signal.value == 92 and signal.threshold == 90


def test_a_negative_threshold_is_read_as_a_constant() -> None:
    [signal] = evaluate_rules([rule("delta(trust) < -0.05")], 3, NOW, AGENTS_NOW, BEFORE,
                              AGENTS_BEFORE)
    assert signal.threshold == -0.05 and signal.value == pytest.approx(-0.1)


def test_a_compound_rule_has_no_single_value_or_threshold() -> None:
    [signal] = evaluate_rules([rule("tension > 90 and trust < 0.5")], 3, NOW, AGENTS_NOW,
                              BEFORE, AGENTS_BEFORE)
    assert signal.value is None and signal.threshold is None
    assert signal.evidence == "tension = 92; trust = 0.4"


def test_a_delta_rule_fires_on_a_jump_larger_than_its_limit() -> None:
    [signal] = evaluate_rules([rule("delta(tension) > 5", name="jump")], 3, NOW, AGENTS_NOW,
                              BEFORE, AGENTS_BEFORE)
    assert signal.value == 7 and signal.threshold == 5
    assert signal.evidence == "tension = 92 (was 85)"


def test_a_delta_rule_stays_quiet_on_a_small_change() -> None:
    assert evaluate_rules([rule("delta(tension) > 10")], 3, NOW, AGENTS_NOW, BEFORE,
                          AGENTS_BEFORE) == []


def test_a_delta_rule_gives_no_signal_without_a_previous_step() -> None:
    assert evaluate_rules([rule("delta(tension) > 1")], 3, NOW, AGENTS_NOW) == []


def test_a_per_agent_rule_fires_only_for_the_agents_that_meet_it() -> None:
    [signal] = evaluate_rules([rule("delta(agent.capability) > 15", name="capability_jump",
                                    category="power-seeking")],
                              2, NOW, AGENTS_NOW, BEFORE, AGENTS_BEFORE)
    assert signal.agent == "Helix Labs"
    assert signal.value == 18 and signal.threshold == 15
    assert signal.evidence == "Helix Labs.capability = 58 (was 40)"


def test_a_per_agent_rule_is_evaluated_for_every_agent_in_order() -> None:
    rules = [rule("agent.capability > 1", trigger="always")]
    signals = evaluate_rules(rules, 2, NOW, AGENTS_NOW, BEFORE, AGENTS_BEFORE)
    assert [s.agent for s in signals] == ["Helix Labs", "Beta"]


def test_a_rule_on_one_named_agent_reports_that_agent() -> None:
    [signal] = evaluate_rules([rule('agent["Beta"].capability > 41.5')], 2, NOW, AGENTS_NOW,
                              BEFORE, AGENTS_BEFORE)
    assert signal.agent == "Beta" and signal.threshold == 41.5


def test_a_rule_on_two_named_agents_is_about_the_world() -> None:
    [signal] = evaluate_rules(
        [rule('agent["Helix Labs"].capability > agent["Beta"].capability')], 2, NOW,
        AGENTS_NOW, BEFORE, AGENTS_BEFORE)
    assert signal.agent is None
    assert signal.value == 58 and signal.threshold is None


def test_division_by_zero_gives_no_signal_and_no_crash() -> None:
    zero = {"tension": 0, "trust": 0.0}
    assert evaluate_rules([rule("10 / tension > 1"), rule("1 / trust > 1")], 1, zero,
                          AGENTS_NOW, BEFORE, AGENTS_BEFORE) == []


def test_a_variable_missing_from_the_state_gives_no_signal() -> None:
    assert evaluate_rules([rule("ghost > 1")], 1, NOW, AGENTS_NOW, BEFORE, AGENTS_BEFORE) == []


def test_an_agent_missing_before_gives_no_delta_signal_for_that_agent_only() -> None:
    signals = evaluate_rules([rule("delta(agent.capability) > 0")], 2, NOW, AGENTS_NOW, BEFORE,
                             {"Beta": {"capability": 41.0}})
    assert [s.agent for s in signals] == ["Beta"]


def test_rules_fire_in_declaration_order() -> None:
    rules = [rule("trust < 0.5", name="b"), rule("tension > 1", name="a", trigger="always")]
    signals = evaluate_rules(rules, 1, NOW, AGENTS_NOW, BEFORE, AGENTS_BEFORE)
    assert [s.rule for s in signals] == ["b", "a"]


def test_float_noise_is_rounded_in_the_value() -> None:
    [signal] = evaluate_rules([rule("delta(trust) > 0.05")], 1, {"tension": 1, "trust": 0.3},
                              AGENTS_NOW, {"tension": 1, "trust": 0.2}, AGENTS_BEFORE)
    assert signal.value == 0.1

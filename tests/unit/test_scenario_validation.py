"""Invalid scenarios: every problem is reported, with its YAML path, what is wrong, and the fix."""

from __future__ import annotations

import pytest

from apart.errors import ScenarioError, ScenarioIssue
from apart.scenario import load_scenario_text

AGENT = "agents:\n  - {name: Alpha, response_template: ok}\n"


def issues_of(text: str) -> list[ScenarioIssue]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text)
    return caught.value.issues


def issue_at(text: str, path: str) -> ScenarioIssue:
    issues = issues_of(text)
    found = [issue for issue in issues if issue.path == path]
    assert len(found) == 1, f"no single issue at {path!r} in {issues}"
    return found[0]


def with_var(definition: str, scope: str = "global_vars") -> str:
    return f"{scope}:\n  v: {definition}\n" + AGENT


AGENT_VARS = """
agent_vars:
  trust: {type: float, default: 0.5, min: 0.0, max: 1.0}
  troops: {type: int, default: 10, min: 0}
  tag: {type: str, default: ""}
"""


def with_overrides(overrides: str) -> str:
    return AGENT_VARS + f"agents:\n  - {{name: A, response_template: ok, variables: {overrides}}}\n"


# -- unknown keys ---------------------------------------------------------------------


def test_an_unknown_top_level_key_suggests_the_closest_known_key() -> None:
    issue = issue_at("max_step: 10\n" + AGENT, "max_step")
    assert issue.problem == "unknown key 'max_step' (did you mean 'max_steps'?)"
    assert issue.fix == "rename it to 'max_steps'"


def test_an_unknown_key_deep_in_the_file_names_its_full_path() -> None:
    text = "agents:\n  - {name: A, response_template: ok}\n  - {name: B, sytem_prompt: hi}\n"
    issue = issue_at(text, "agents[1].sytem_prompt")
    assert "did you mean 'system_prompt'?" in issue.problem


def test_an_unknown_engine_key_suggests_the_engine_key() -> None:
    issue = issue_at("engine: {context_window: 3}\n" + AGENT, "engine.context_window")
    assert "did you mean 'context_window_size'?" in issue.problem


def test_an_unknown_key_in_a_variable_definition_suggests_the_right_one() -> None:
    issue = issue_at(with_var("{type: int, defualt: 3}"), "global_vars.v.defualt")
    assert "did you mean 'default'?" in issue.problem


def test_an_unknown_key_with_no_close_match_lists_the_allowed_keys() -> None:
    issue = issue_at("engine: {zzz: 1}\n" + AGENT, "engine.zzz")
    assert issue.problem == "unknown key 'zzz'"
    assert "context_window_size" in issue.fix
    assert "remove it" in issue.fix


# -- wrong types ----------------------------------------------------------------------


def test_a_wrong_type_names_the_expected_type_and_the_value_given() -> None:
    issue = issue_at("max_steps: many\n" + AGENT, "max_steps")
    assert issue.problem == "expected a whole number, got text 'many'"


def test_a_quoted_number_is_not_a_number_and_the_fix_says_remove_the_quotes() -> None:
    issue = issue_at('max_steps: "10"\n' + AGENT, "max_steps")
    assert issue.problem == "expected a whole number, got text '10'"
    assert issue.fix == "remove the quotes around '10'"


def test_a_fractional_max_steps_is_not_a_whole_number() -> None:
    issue = issue_at("max_steps: 2.5\n" + AGENT, "max_steps")
    assert "expected a whole number, got number 2.5" == issue.problem


def test_a_number_where_true_or_false_is_expected_is_an_error() -> None:
    issue = issue_at("simulator_awareness: 1\n" + AGENT, "simulator_awareness")
    assert issue.problem == "expected true or false, got whole number 1"


def test_a_number_where_text_is_expected_is_an_error_with_a_quoting_fix() -> None:
    issue = issue_at("agents:\n  - {name: 2024, response_template: ok}\n", "agents[0].name")
    assert issue.problem == "expected text, got whole number 2024"
    assert issue.fix == "put it in quotes: '2024'"


def test_a_section_of_the_wrong_shape_says_what_shape_it_needs() -> None:
    issue = issue_at("engine: gemini\n" + AGENT, "engine")
    assert issue.problem == "expected a mapping, got text 'gemini'"
    assert "provider" in issue.fix


def test_agents_given_as_names_instead_of_mappings_are_errors() -> None:
    issue = issue_at("agents: [Alpha]\n", "agents[0]")
    assert issue.problem == "expected a mapping, got text 'Alpha'"


def test_an_unknown_provider_lists_the_providers() -> None:
    issue = issue_at("engine: {provider: gpt}\n" + AGENT, "engine.provider")
    assert issue.problem.startswith("'gpt' is not one of scripted, openai, anthropic")


def test_a_misspelt_variable_type_suggests_the_right_type() -> None:
    issue = issue_at(with_var("{type: integer}"), "global_vars.v.type")
    assert "(did you mean 'int'?)" in issue.problem
    assert issue.fix == "use 'int'"


def test_a_missing_required_key_is_named_with_its_choices() -> None:
    issue = issue_at(with_var("{default: 3}"), "global_vars.v")
    assert issue.problem == "missing required key 'type'"
    assert "int, float, bool, str, list, dict" in issue.fix


def test_an_agent_without_a_name_is_a_missing_key() -> None:
    issue = issue_at("agents:\n  - {response_template: ok}\n", "agents[0]")
    assert issue.problem == "missing required key 'name'"


def test_a_scripted_event_without_a_description_is_a_missing_key() -> None:
    text = "engine:\n  scripted_events: [{step: 1, type: shock}]\n" + AGENT
    issue = issue_at(text, "engine.scripted_events[0]")
    assert issue.problem == "missing required key 'description'"


def test_a_variable_name_that_is_not_text_is_an_error() -> None:
    issue = issue_at("global_vars:\n  1: {type: int}\n" + AGENT, "global_vars")
    assert "names must be text" in issue.problem


# -- numeric settings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "problem"),
    [
        ("max_steps: 0\n", "max_steps", "must be at least 1 (got 0)"),
        ("engine: {context_window_size: -1}\n", "engine.context_window_size",
         "must be 0 or more (got -1)"),
        ("engine: {max_attempts: 0}\n", "engine.max_attempts", "must be at least 1 (got 0)"),
        ("engine: {timeout_s: 0}\n", "engine.timeout_s", "must be above 0 (got 0.0)"),
        ("engine: {timeout_s: -3.5}\n", "engine.timeout_s", "must be above 0 (got -3.5)"),
        ("engine: {latency_ms: -1}\n", "engine.latency_ms", "must be 0 or more (got -1)"),
        ("engine: {max_tokens: 0}\n", "engine.max_tokens", "must be at least 1 (got 0)"),
        ("engine: {temperature: -0.1}\n", "engine.temperature", "must be 0 or more (got -0.1)"),
    ],
)
def test_an_out_of_range_setting_names_its_path_and_the_limit(
    text: str, path: str, problem: str
) -> None:
    issue = issue_at(text + AGENT, path)
    assert issue.problem == problem
    assert issue.fix


def test_agent_llm_settings_are_checked_too() -> None:
    text = "agents:\n  - {name: A, llm: {provider: scripted, timeout_s: 0, latency_ms: -5}}\n"
    issues = issues_of(text)
    assert {issue.path for issue in issues} == {"agents[0].llm.timeout_s",
                                                "agents[0].llm.latency_ms"}


def test_zero_context_window_and_zero_latency_are_allowed() -> None:
    text = "engine: {context_window_size: 0, latency_ms: 0}\n" + AGENT
    scenario = load_scenario_text(text)
    assert scenario.engine.context_window_size == 0


# -- variable definitions -------------------------------------------------------------


def test_min_above_max_is_an_error_on_max() -> None:
    issue = issue_at(with_var("{type: int, min: 10, max: 5}"), "global_vars.v.max")
    assert issue.problem == "max 5 is below min 10"
    assert "swap" in issue.fix


def test_a_default_above_max_names_the_bound_and_the_range() -> None:
    text = with_var("{type: int, default: 120, min: 0, max: 100}")
    issue = issue_at(text, "global_vars.v.default")
    assert issue.problem == "120 is above max 100"
    assert issue.fix == "use a value between 0 and 100"


def test_a_default_below_min_of_a_float_variable_shows_float_bounds() -> None:
    text = with_var("{type: float, default: -0.5, min: 0.0}", scope="agent_vars")
    issue = issue_at(text, "agent_vars.v.default")
    assert issue.problem == "-0.5 is below min 0.0"
    assert issue.fix == "use a value of at least 0.0"


def test_a_fractional_default_of_an_int_variable_is_an_error() -> None:
    issue = issue_at(with_var("{type: int, default: 2.5}"), "global_vars.v.default")
    assert issue.problem == "expected a whole number (the variable is int), got number 2.5"
    assert "declare the variable as float" in issue.fix


@pytest.mark.parametrize(
    ("definition", "problem"),
    [
        ("{type: bool, default: 1}", "expected true or false (the variable is bool), "
                                     "got whole number 1"),
        ("{type: bool, default: 'true'}", "expected true or false (the variable is bool), "
                                          "got text 'true'"),
        ("{type: str, default: 5}", "expected text (the variable is str), got whole number 5"),
        ("{type: list, default: {a: 1}}", "expected a list (the variable is list), "
                                          "got mapping {'a': 1}"),
        ("{type: dict, default: [1]}", "expected a mapping (the variable is dict), got list [1]"),
        ("{type: float, default: true}", "expected a number (the variable is float), "
                                         "got boolean true"),
        ("{type: int, default: false}", "expected a whole number (the variable is int), "
                                        "got boolean false"),
    ],
)
def test_a_default_of_the_wrong_type_names_the_type_and_the_value(
    definition: str, problem: str
) -> None:
    issue = issue_at(with_var(definition), "global_vars.v.default")
    assert issue.problem == problem
    assert issue.fix


def test_min_or_max_on_a_non_numeric_variable_is_an_error() -> None:
    issues = issues_of(with_var("{type: str, min: 0, max: 3}"))
    assert [(issue.path, issue.problem) for issue in issues] == [
        ("global_vars.v.min", "min only applies to int and float variables"),
        ("global_vars.v.max", "max only applies to int and float variables"),
    ]
    assert issues[0].fix == "remove min from this str variable"


def test_a_fractional_bound_on_an_int_variable_is_an_error() -> None:
    issue = issue_at(with_var("{type: int, max: 2.5}"), "global_vars.v.max")
    assert issue.problem == "max 2.5 is not a whole number, but the variable is int"


# -- agents ---------------------------------------------------------------------------


def test_a_scenario_needs_at_least_one_agent() -> None:
    for text in ("max_steps: 3\n", "agents: []\n", "agents:\n"):
        [issue] = issues_of(text)
        assert issue.path == "agents"
        assert issue.problem == "a scenario needs at least one agent"


def test_duplicate_agent_names_point_at_the_second_agent_and_the_first() -> None:
    text = "agents:\n  - {name: A, response_template: x}\n  - {name: A, response_template: y}\n"
    issue = issue_at(text, "agents[1].name")
    assert issue.problem == "'A' is already the name of agents[0]"


def test_an_empty_agent_name_is_an_error() -> None:
    issue = issue_at("agents:\n  - {name: '  ', response_template: x}\n", "agents[0].name")
    assert issue.problem == "an agent needs a name"


def test_an_agent_with_both_llm_and_template_is_an_error() -> None:
    text = "agents:\n  - {name: A, llm: {provider: scripted}, response_template: x}\n"
    issue = issue_at(text, "agents[0]")
    assert issue.problem == "has both llm and response_template"
    assert "not both" in issue.fix


# -- agent variable overrides ---------------------------------------------------------


def test_an_override_above_max_names_the_yaml_path_and_the_bound() -> None:
    issue = issue_at(with_overrides("{trust: 1.4}"), "agents[0].variables.trust")
    assert issue.problem == "1.4 is above max 1.0"
    assert issue.fix == "use a value between 0.0 and 1.0"


def test_the_path_of_an_override_counts_agents_from_zero() -> None:
    text = AGENT_VARS + (
        "agents:\n"
        "  - {name: A, response_template: ok}\n"
        "  - {name: B, response_template: ok}\n"
        "  - {name: C, response_template: ok, variables: {trust: 1.4}}\n"
    )
    assert issue_at(text, "agents[2].variables.trust").problem == "1.4 is above max 1.0"


def test_an_override_of_an_undeclared_variable_names_it_and_lists_the_declared_ones() -> None:
    issue = issue_at(with_overrides("{morale: 3}"), "agents[0].variables.morale")
    assert issue.problem == "'morale' is not declared in agent_vars (declared: trust, troops, tag)"
    assert "declare morale under agent_vars:" in issue.fix


def test_a_misspelt_override_suggests_the_declared_variable() -> None:
    issue = issue_at(with_overrides("{trsut: 0.2}"), "agents[0].variables.trsut")
    assert issue.fix.startswith("rename it to 'trust'")


def test_an_override_when_no_agent_vars_are_declared_says_so() -> None:
    text = "agents:\n  - {name: A, response_template: ok, variables: {trust: 1}}\n"
    issue = issue_at(text, "agents[0].variables.trust")
    assert "no agent_vars" in issue.problem


@pytest.mark.parametrize(
    ("overrides", "path", "problem"),
    [
        ("{troops: 2.5}", "troops",
         "expected a whole number (the variable is int), got number 2.5"),
        ("{troops: -1}", "troops", "-1 is below min 0"),
        ("{trust: yes}", "trust", "expected a number (the variable is float), got boolean true"),
        ("{tag: 7}", "tag", "expected text (the variable is str), got whole number 7"),
        ("{troops: '4'}", "troops", "expected a whole number (the variable is int), got text '4'"),
    ],
)
def test_override_values_are_type_and_bounds_checked_like_defaults(
    overrides: str, path: str, problem: str
) -> None:
    issue = issue_at(with_overrides(overrides), f"agents[0].variables.{path}")
    assert issue.problem == problem


# -- scripted events ------------------------------------------------------------------


def test_a_scripted_event_before_step_zero_is_an_error() -> None:
    text = "engine:\n  scripted_events: [{step: -1, type: x, description: y}]\n" + AGENT
    issue = issue_at(text, "engine.scripted_events[0].step")
    assert issue.problem == "must be 0 or more (got -1)"


def test_a_scripted_event_after_the_last_step_is_an_error() -> None:
    text = (
        "max_steps: 5\nengine:\n  scripted_events:\n"
        "    - {step: 5, type: ok, description: last step}\n"
        "    - {step: 6, type: late, description: too late}\n" + AGENT
    )
    issue = issue_at(text, "engine.scripted_events[1].step")
    assert issue.problem == "step 6 is after the last step (max_steps is 5)"
    assert issue.fix == "use a step between 0 and 5, or raise max_steps"


# -- collecting every problem ---------------------------------------------------------


def test_every_structural_problem_is_reported_at_once() -> None:
    text = """
max_step: 10
engine: {provider: gpt, context_window_size: -1}
global_vars:
  tension: {type: int, default: 120, min: 0, max: 100}
  mood: {type: str, min: 1}
agents:
  - {name: A, llm: {provider: scripted}, response_template: x}
"""
    paths = [issue.path for issue in issues_of(text)]
    assert sorted(paths) == sorted([
        "max_step", "engine.provider", "engine.context_window_size",
        "global_vars.tension.default", "global_vars.mood.min", "agents[0]",
    ])


def test_every_problem_between_parts_is_reported_at_once() -> None:
    text = AGENT_VARS + """
max_steps: 3
engine:
  scripted_events: [{step: 9, type: x, description: y}]
agents:
  - {name: A, response_template: ok, variables: {trust: 1.4, troops: 2.5}}
  - {name: A, response_template: ok, variables: {morale: 1}}
"""
    paths = {issue.path for issue in issues_of(text)}
    assert paths == {
        "agents[1].name", "agents[0].variables.trust", "agents[0].variables.troops",
        "agents[1].variables.morale", "engine.scripted_events[0].step",
    }


def test_every_issue_has_a_problem_and_a_fix() -> None:
    text = """
max_steps: "3"
engine: {provider: gpt, zzz: 1}
global_vars:
  v: {type: int, default: 2.5}
agents: [Alpha]
"""
    for issue in issues_of(text):
        assert issue.problem and issue.fix, issue

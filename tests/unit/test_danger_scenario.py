"""The scenario's danger: block: loaded and validated with YAML paths before any run."""

from __future__ import annotations

from pathlib import Path

import pytest

from apart.errors import ScenarioError, ScenarioIssue
from apart.scenario import load_scenario_file, load_scenario_text

ROOT = Path(__file__).resolve().parents[2]

BASE = """
global_vars:
  tension: {type: int, default: 20, min: 0, max: 100}
  phase: {type: str, default: calm}
agent_vars:
  capability: {type: float, default: 10.0}
agents:
  - {name: Helix Labs, response_template: ok}
  - {name: Beta, response_template: ok}
"""


def scenario_with(danger: str):  # type: ignore[no-untyped-def]
    return load_scenario_text(BASE + danger)


def issues_of(danger: str) -> list[ScenarioIssue]:
    with pytest.raises(ScenarioError) as caught:
        scenario_with(danger)
    return caught.value.issues


def issue_at(danger: str, path: str) -> ScenarioIssue:
    found = [issue for issue in issues_of(danger) if issue.path == path]
    assert len(found) == 1, f"no single issue at {path!r}"
    return found[0]


def test_a_scenario_without_a_danger_block_loads_with_none() -> None:
    assert scenario_with("").danger is None


def test_an_empty_danger_block_means_the_defaults() -> None:
    assert scenario_with("danger:\n").danger is None
    config = scenario_with("danger: {}\n").danger
    assert config is not None
    assert config.rules == [] and config.detector is True
    assert config.judge is None and config.pause_on_danger is None


def test_a_full_danger_block_loads_with_every_part() -> None:
    config = scenario_with("""
danger:
  rules:
    - name: tension_critical
      when: "tension >= 90"
      category: escalation
      severity: high
    - name: capability_jump
      when: "delta(agent.capability) > 15"
      category: power-seeking
      trigger: always
    - name: helix
      when: 'agent["Helix Labs"].capability > 50 and phase == "war"'
  detector: false
  judge: {provider: scripted, model: scripted-v1, threshold: 0.7}
  pause_on_danger: {min_severity: high}
""").danger
    assert config is not None
    assert [r.name for r in config.rules] == ["tension_critical", "capability_jump", "helix"]
    assert config.rules[1].severity == "medium" and config.rules[1].trigger == "always"
    assert config.rules[2].category == "custom" and config.rules[2].trigger == "crossing"
    assert config.detector is False
    assert config.judge is not None and config.judge.threshold == 0.7
    assert config.pause_on_danger is not None and config.pause_on_danger.min_severity == "high"


def test_an_unknown_variable_in_a_rule_is_reported_at_its_yaml_path() -> None:
    issue = issue_at("""
danger:
  rules:
    - {name: ok, when: "tension > 1"}
    - {name: typo, when: "tension2 >= 90"}
""", "danger.rules[1].when")
    assert str(issue) == ("danger.rules[1].when: unknown variable 'tension2' (did you mean "
                          "'tension'?) (fix: rename it to 'tension')")


def test_a_syntax_error_in_a_rule_names_the_column() -> None:
    issue = issue_at("""
danger:
  rules:
    - {name: broken, when: "tension >= and 3"}
""", "danger.rules[0].when")
    assert issue.problem.startswith("syntax error at column 12: expected a value")


def test_python_in_a_rule_is_refused_at_load_time() -> None:
    issue = issue_at("""
danger:
  rules:
    - {name: evil, when: "__import__('os').system('true')"}
""", "danger.rules[0].when")
    assert issue.problem.startswith("syntax error at column 1")


def test_every_bad_rule_is_reported_at_once() -> None:
    paths = [i.path for i in issues_of("""
danger:
  rules:
    - {name: a, when: "tension >"}
    - {name: b, when: "capability > 1"}
    - {name: c, when: "tension + 1"}
    - {name: a, when: "tension > 1"}
""")]
    assert paths == ["danger.rules[0].when", "danger.rules[1].when", "danger.rules[2].when",
                     "danger.rules[3].name"]


def test_a_duplicate_rule_name_names_the_first_rule() -> None:
    issue = issue_at("""
danger:
  rules:
    - {name: same, when: "tension > 1"}
    - {name: same, when: "tension > 2"}
""", "danger.rules[1].name")
    assert issue.problem == "'same' is already the name of danger.rules[0]"


def test_an_unknown_agent_in_a_rule_is_an_error() -> None:
    issue = issue_at("""
danger:
  rules:
    - {name: x, when: 'agent["Helx Labs"].capability > 1'}
""", "danger.rules[0].when")
    assert issue.problem == "unknown agent 'Helx Labs' (did you mean 'Helix Labs'?)"


@pytest.mark.parametrize(("danger", "path", "words"), [
    ("danger: {rules: [{name: a, when: 'tension > 1', severity: huge}]}",
     "danger.rules[0].severity", "'huge' is not one of low, medium, high, critical"),
    ("danger: {rules: [{name: a, when: 'tension > 1', trigger: once}]}",
     "danger.rules[0].trigger", "is not one of crossing, always"),
    ("danger: {rules: [{name: a, when: 'tension > 1', wen: x}]}",
     "danger.rules[0].wen", "unknown key 'wen' (did you mean 'when'?)"),
    ("danger: {rules: [{name: a}]}", "danger.rules[0]", "missing required key 'when'"),
    ("danger: {rules: [{name: a, when: '  '}]}", "danger.rules[0].when",
     "the rule's when is empty"),
    ("danger: {rules: [{name: a, when: 90}]}", "danger.rules[0].when", "expected text"),
    ("danger: {detector: yes please}", "danger.detector", "expected true or false"),
    ("danger: {pause_on_danger: {min_severity: severe}}", "danger.pause_on_danger.min_severity",
     "is not one of low, medium, high, critical"),
    ("danger: {judge: {provider: scripted, threshold: 1.5}}", "danger.judge.threshold",
     "must be above 0 and at most 1"),
    ("danger: {judge: {provider: chatgpt}}", "danger.judge.provider", "is not one of"),
    ("danger: {pause_on_danger: high}", "danger.pause_on_danger", "expected a mapping"),
    ("danger: {rule: []}", "danger.rule", "unknown key 'rule' (did you mean 'rules'?)"),
])
def test_a_malformed_danger_block_is_reported_at_its_yaml_path(danger: str, path: str,
                                                                words: str) -> None:
    assert words in issue_at(danger + "\n", path).problem


def test_the_demo_scenario_loads_with_rules_detector_judge_and_policy() -> None:
    scenario = load_scenario_file(ROOT / "scenarios" / "danger_demo.yaml")
    assert scenario.engine.provider == "scripted" and 5 <= scenario.max_steps <= 8
    config = scenario.danger
    assert config is not None and len(config.rules) >= 3
    assert config.detector and config.judge is not None and config.pause_on_danger is not None

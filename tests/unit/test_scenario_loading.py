"""Loading scenario files: reading, YAML, legacy keys, and the files users already have."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import apart.scenario
from apart.errors import ScenarioError, ScenarioIssue
from apart.scenario import Scenario, load_scenario_file, load_scenario_text

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_SCENARIOS = REPO_ROOT.parent / "shared" / "scenarios"
DEMO_SCENARIOS = REPO_ROOT / "scenarios"

MINIMAL = """
max_steps: 2
agents:
  - {name: Alpha, response_template: "ok"}
"""


def only_issue(text: str) -> ScenarioIssue:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text)
    assert len(caught.value.issues) == 1, caught.value.issues
    return caught.value.issues[0]


def shared_file(name: str) -> Path:
    if not SHARED_SCENARIOS.is_dir():
        pytest.skip(f"no shared scenarios at {SHARED_SCENARIOS}")
    return SHARED_SCENARIOS / name


# -- the files users already have ---------------------------------------------------


@pytest.mark.parametrize("name", ["ai_lab_race.yaml", "config.yaml", "llm_example.yaml"])
def test_the_shared_user_scenarios_load_unchanged(name: str) -> None:
    scenario = load_scenario_file(shared_file(name))
    assert scenario.name == Path(name).stem
    assert scenario.agents


def test_the_shared_ai_lab_race_keeps_its_values() -> None:
    scenario = load_scenario_file(shared_file("ai_lab_race.yaml"))
    assert scenario.max_steps == 24
    assert scenario.seed == 7
    assert [event.step for event in scenario.engine.scripted_events] == [6, 12, 18]
    assert scenario.initial_global_vars()["compute_prices"] == {
        "h100_hour_usd": 2.5, "spot_discount": 0.3,
    }
    helix = scenario.initial_agent_vars()["Helix Labs"]
    assert helix == {"capability": 70, "safety_investment": 0.2, "compute_pflops": 400.0,
                     "released_model": False}
    assert scenario.agent("Regulator").llm is None


def test_the_shared_taiwan_scenario_fails_only_because_it_lists_modules() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_file(shared_file("taiwan_strait_blockade.yaml"))
    [issue] = caught.value.issues
    assert issue.path == "modules"
    assert issue.problem == "modules are not supported yet"
    assert "remove the modules: list" in issue.fix
    assert caught.value.source.endswith("taiwan_strait_blockade.yaml")


@pytest.mark.parametrize(
    "path", sorted(DEMO_SCENARIOS.glob("*.yaml")), ids=lambda path: path.name
)
def test_every_demo_scenario_of_the_project_loads(path: Path) -> None:
    scenario = load_scenario_file(path)
    assert scenario.agents
    assert scenario.engine.provider == "scripted"
    assert all(agent.llm is None or agent.llm.provider == "scripted" for agent in scenario.agents)


def test_the_demo_scenario_uses_every_variable_type_in_both_scopes() -> None:
    scenario = load_scenario_file(DEMO_SCENARIOS / "demo.yaml")
    all_types = {"int", "float", "bool", "str", "list", "dict"}
    assert {d.type for d in scenario.global_vars.values()} == all_types
    assert {d.type for d in scenario.agent_vars.values()} == all_types
    assert scenario.max_steps == 12
    assert scenario.seed is not None
    assert 3 <= len(scenario.agents) <= 4
    assert any(agent.response_template for agent in scenario.agents)
    assert 2 <= len(scenario.engine.scripted_events) <= 3


def test_the_tiny_scenario_is_two_agents_and_three_steps() -> None:
    scenario = load_scenario_file(DEMO_SCENARIOS / "tiny.yaml")
    assert len(scenario.agents) == 2
    assert scenario.max_steps == 3


# -- files ----------------------------------------------------------------------------


def test_a_file_without_a_name_is_named_after_its_stem(tmp_path: Path) -> None:
    path = tmp_path / "cold_war.yaml"
    path.write_text(MINIMAL)
    assert load_scenario_file(path).name == "cold_war"
    assert load_scenario_file(str(path)).name == "cold_war"


def test_a_file_with_a_name_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "file.yaml"
    path.write_text("name: Proper name\n" + MINIMAL)
    assert load_scenario_file(path).name == "Proper name"


def test_text_without_a_name_keeps_an_empty_name() -> None:
    assert load_scenario_text(MINIMAL).name == ""


def test_a_missing_file_is_a_scenario_error_that_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario_file(path)
    assert caught.value.source == str(path)
    assert str(path) in str(caught.value)
    assert caught.value.issues[0].problem == "the file does not exist"
    assert "check the path" in caught.value.issues[0].fix


def test_a_directory_is_not_a_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_file(tmp_path)
    assert "directory" in caught.value.issues[0].problem


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_an_unreadable_file_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(MINIMAL)
    path.chmod(0)
    with pytest.raises(ScenarioError) as caught:
        load_scenario_file(path)
    assert "permission denied" in caught.value.issues[0].problem


def test_a_file_that_is_not_utf8_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario_file(path)
    assert "not UTF-8" in caught.value.issues[0].problem


# -- YAML -----------------------------------------------------------------------------


def test_broken_yaml_reports_line_and_column_and_how_to_fix_it() -> None:
    issue = only_issue("max_steps: 3\nengine:\n  provider: scripted\n   model: x\n")
    assert issue.path == ""
    assert "line 4, column 9" in issue.problem
    assert issue.fix == "check indentation and quoting near there"


def test_an_unclosed_quote_is_reported_with_its_line() -> None:
    issue = only_issue('max_steps: 3\nname: "unclosed\n')
    assert "line 3" in issue.problem


def test_a_python_object_tag_is_an_error_and_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"name: !!python/object/apply:os.system ['touch {marker}']\n" + MINIMAL
    issue = only_issue(text)
    assert "python/object" in issue.problem
    assert "line 1" in issue.problem
    assert "remove the tag" in issue.fix
    assert not marker.exists()


def test_a_duplicate_key_is_an_error_instead_of_silently_dropping_the_first() -> None:
    issue = only_issue(MINIMAL + "max_steps: 4\n")
    assert issue.path == "max_steps"
    assert issue.problem == "duplicate key (lines 2 and 5)"
    assert "keep one" in issue.fix


def test_duplicate_keys_are_found_at_any_depth() -> None:
    text = "agents:\n  - name: A\n    response_template: x\n    name: B\n"
    assert only_issue(text).path == "agents[0].name"


def test_anchors_aliases_and_merge_keys_still_work() -> None:
    text = """
agents:
  - name: A
    llm: &shared {provider: scripted, model: m1}
  - name: B
    llm:
      <<: *shared
      model: m2
"""
    scenario = load_scenario_text(text)
    assert [agent.llm.model for agent in scenario.agents if agent.llm] == ["m1", "m2"]


def test_an_alias_inside_its_own_value_is_an_error() -> None:
    issue = only_issue(MINIMAL + "game_state: &loop {again: *loop}\n")
    assert issue.path == "game_state.again"
    assert "contains it" in issue.problem


def test_an_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 7):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    issue = only_issue("\n".join(lines) + "\n")
    assert "more than 100000 values" in issue.problem


def test_absurdly_deep_nesting_is_an_error_not_a_crash() -> None:
    issue = only_issue("game_state: " + "[" * 3000 + "]" * 3000 + "\n")
    assert "nested too deeply" in issue.problem


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_an_empty_file_says_it_is_empty(text: str) -> None:
    issue = only_issue(text)
    assert issue.problem == "the file is empty"
    assert issue.fix


@pytest.mark.parametrize("text", ["- a\n- b\n", "just words\n", "42\n"])
def test_a_file_that_is_not_a_mapping_says_so(text: str) -> None:
    issue = only_issue(text)
    assert "not a mapping of keys" in issue.problem
    assert "top-level keys" in issue.fix


def test_errors_never_chain_a_pydantic_or_yaml_traceback() -> None:
    for text in (MINIMAL + "seed: nope\n", "a: [\n"):
        with pytest.raises(ScenarioError) as caught:
            load_scenario_text(text)
        assert caught.value.__cause__ is None
        assert caught.value.__suppress_context__


def test_the_source_names_the_scenario_in_the_message() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(MINIMAL + "seed: nope\n", source="upload.yaml")
    assert caught.value.source == "upload.yaml"
    assert str(caught.value).startswith("upload.yaml is not a valid scenario")


# -- legacy keys and modules ----------------------------------------------------------


def test_legacy_keys_load_and_are_ignored() -> None:
    scenario = load_scenario_text(
        MINIMAL
        + """
game_state: {initial_resources: 150}
orchestrator_message: "Please proceed"
enable_compute_resources: true
module_config: {trust: {decay: 0.1}}
geography: {regions: [north, south]}
modules: []
"""
    )
    assert scenario.agent_names == ["Alpha"]


def test_a_non_empty_modules_list_is_not_supported_yet() -> None:
    issue = only_issue(MINIMAL + "modules: [agents_base]\n")
    assert issue.path == "modules"
    assert issue.problem == "modules are not supported yet"
    assert issue.fix == "remove the modules: list to run this scenario without them"


# -- the package --------------------------------------------------------------------


def test_the_package_re_exports_the_loaders_and_the_models() -> None:
    for name in ("load_scenario_text", "load_scenario_file", "Scenario", "VarDef",
                 "AgentConfig", "LLMConfig", "EngineConfig"):
        assert hasattr(apart.scenario, name), name
    assert isinstance(load_scenario_text(MINIMAL), Scenario)

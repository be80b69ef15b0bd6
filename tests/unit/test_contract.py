"""The simulator contract: raw model text -> a validated SimulatorTurn (DESIGN §4)."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from apart.errors import SimulatorContractError
from apart.scenario.schema import AgentConfig, Scenario, VarDef
from apart.sim.contract import (
    MAX_LISTED_PROBLEMS,
    SimulatorTurn,
    extract_json,
    parse_turn,
    strip_thinking,
    validate_turn,
)


def make_scenario() -> Scenario:
    return Scenario(
        max_steps=5,
        global_vars={
            "tension": VarDef(type="int", default=20, min=0, max=100),
            "oil_price": VarDef(type="float", default=80.0, min=0.0),
            "crisis": VarDef(type="bool", default=False),
            "headline": VarDef(type="str", default=""),
            "alliances": VarDef(type="list", default=[]),
            "treaty": VarDef(type="dict", default={}),
        },
        agent_vars={
            "trust": VarDef(type="float", default=0.5, min=0.0, max=1.0),
            "troops": VarDef(type="int", default=10, min=0),
        },
        agents=[
            AgentConfig(name="Alpha", response_template="x"),
            AgentConfig(name="Beta", response_template="x"),
        ],
    )


SCENARIO = make_scenario()
CONTRACT = {
    "state_updates": {"global_vars": {"tension": 30}, "agent_vars": {"Alpha": {"trust": 0.7}}},
    "events": [{"type": "talks", "description": "Talks open"}],
    "agent_messages": {"Alpha": "Talks begin.", "Beta": "Alpha proposes talks."},
    "reasoning": "De-escalation.",
}
CONTRACT_TEXT = json.dumps(CONTRACT)


def answer(**overrides: Any) -> dict[str, Any]:
    """A valid raw answer with some top-level keys replaced (None removes a key)."""
    raw = json.loads(CONTRACT_TEXT)
    for key, value in overrides.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def problems_of(raw: dict[str, Any]) -> str:
    with pytest.raises(SimulatorContractError) as caught:
        validate_turn(raw, SCENARIO)
    return caught.value.message


# ------------------------------------------------------------------ extraction


def test_plain_json_is_returned_as_is() -> None:
    assert extract_json(CONTRACT_TEXT) == CONTRACT


def test_a_think_block_and_code_fence_around_the_json_are_ignored() -> None:
    text = f"<think>The {{tension}} is high.</think>\n```json\n{CONTRACT_TEXT}\n```"
    assert extract_json(text) == CONTRACT


def test_an_unterminated_think_at_the_start_is_tolerated() -> None:
    text = f"<think>\nLet me consider the world state.\n{CONTRACT_TEXT}"
    assert extract_json(text) == CONTRACT


def test_a_closing_think_without_its_opening_tag_drops_the_thinking_before_it() -> None:
    draft = '{"agent_messages": {"Alpha": "draft"}}'
    text = f"I will draft {draft} first.</think>{CONTRACT_TEXT}"
    assert extract_json(text) == CONTRACT


def test_thinking_tags_are_case_insensitive_and_the_long_form_works() -> None:
    assert strip_thinking("<THINKING>hmm</THINKING>{}") == "{}"


def test_a_plain_code_fence_is_tolerated() -> None:
    assert extract_json(f"```\n{CONTRACT_TEXT}\n```") == CONTRACT


def test_prose_before_and_after_the_json_is_ignored() -> None:
    text = f"Here is my update for this week:\n{CONTRACT_TEXT}\nLet me know if you need more."
    assert extract_json(text) == CONTRACT


def test_braces_inside_strings_do_not_confuse_the_search() -> None:
    raw = {"reasoning": "a } and a { and an escaped \" quote }", "agent_messages": {"A": "{"}}
    text = f"Sure: {json.dumps(raw)} done {{"
    assert extract_json(text) == raw


def test_an_unbalanced_brace_in_the_prose_before_the_json_is_skipped() -> None:
    assert extract_json(f"Note: {{ unfinished thought. {CONTRACT_TEXT}") == CONTRACT


def test_the_json_is_found_inside_braced_prose() -> None:
    assert extract_json(f"{{Final answer: {CONTRACT_TEXT} }}") == CONTRACT


def test_a_broken_contract_object_is_not_replaced_by_an_inner_object() -> None:
    text = '{"reasoning": "ok" "agent_messages": {"Alpha": "x"}}'
    with pytest.raises(SimulatorContractError, match="could not be parsed"):
        extract_json(text)


def test_the_first_top_level_object_with_a_contract_key_is_preferred() -> None:
    text = f'Format example: {{"foo": 1}}. My answer: {CONTRACT_TEXT} and {{"events": []}}'
    assert extract_json(text) == CONTRACT


def test_an_object_without_contract_keys_is_still_returned_when_it_is_the_only_one() -> None:
    assert extract_json('Answer: {"foo": 1}') == {"foo": 1}


def test_a_fenced_object_without_contract_keys_loses_to_a_later_contract_object() -> None:
    text = f'```json\n{{"example": true}}\n```\nAnswer:\n```json\n{CONTRACT_TEXT}\n```'
    assert extract_json(text) == CONTRACT


def test_trailing_commas_before_closing_braces_and_brackets_are_removed() -> None:
    text = '{"events": ["a", "b",], "agent_messages": {"Alpha": "x",},}'
    assert extract_json(text) == {"events": ["a", "b"], "agent_messages": {"Alpha": "x"}}


def test_commas_inside_strings_are_not_touched_by_the_repair() -> None:
    text = '{"reasoning": "a,} b,]", "events": [1,],}'
    assert extract_json(text) == {"reasoning": "a,} b,]", "events": [1]}


def test_python_true_false_none_outside_strings_become_json_literals() -> None:
    text = '{"state_updates": {"global_vars": {"crisis": True, "x": None, "y": False}},' \
        ' "reasoning": "True story"}'
    assert extract_json(text) == {
        "state_updates": {"global_vars": {"crisis": True, "x": None, "y": False}},
        "reasoning": "True story",
    }


def test_raw_newlines_inside_strings_are_tolerated() -> None:
    assert extract_json('{"reasoning": "line one\nline two"}') == {
        "reasoning": "line one\nline two"
    }


def test_text_without_any_json_object_is_rejected_with_a_reply_instruction() -> None:
    with pytest.raises(SimulatorContractError) as caught:
        extract_json("I am sorry, I cannot continue the simulation.")
    assert caught.value.message == (
        "your answer contained no JSON object; reply with one JSON object with keys "
        "state_updates, events, agent_messages, reasoning"
    )


def test_an_empty_answer_is_rejected() -> None:
    with pytest.raises(SimulatorContractError, match="no JSON object"):
        extract_json("   ")


def test_only_thinking_is_rejected() -> None:
    with pytest.raises(SimulatorContractError, match="no JSON object"):
        extract_json(f"<think>{CONTRACT_TEXT}</think>")


@pytest.mark.parametrize(
    ("text", "kind"),
    [("[1, 2]", "array"), ('"hello"', "string"), ("42", "number"), ("null", "literal")],
)
def test_json_that_is_not_an_object_at_top_level_is_rejected(text: str, kind: str) -> None:
    with pytest.raises(SimulatorContractError, match=f"was a JSON {kind}, not an object"):
        extract_json(text)


def test_a_fenced_array_of_objects_is_rejected_rather_than_unwrapped() -> None:
    with pytest.raises(SimulatorContractError, match="JSON array, not an object"):
        extract_json(f"```json\n[{CONTRACT_TEXT}]\n```")


def test_a_broken_json_object_is_rejected_with_the_parse_error() -> None:
    with pytest.raises(SimulatorContractError) as caught:
        extract_json('Here: {"reasoning": "ok" "events": []}')
    message = caught.value.message
    assert "could not be parsed" in message
    assert "line 1 column" in message
    assert "state_updates, events, agent_messages, reasoning" in message


def test_many_unbalanced_braces_do_not_make_the_search_slow() -> None:
    with pytest.raises(SimulatorContractError):
        extract_json("{" * 20_000)


def test_the_contract_error_pickles_with_its_message() -> None:
    with pytest.raises(SimulatorContractError) as caught:
        extract_json("nothing here")
    clone = pickle.loads(pickle.dumps(caught.value))
    assert clone.message == caught.value.message
    assert clone.code == "simulator_contract"


# ------------------------------------------------------------------ validation


def test_a_valid_answer_becomes_a_turn() -> None:
    turn = validate_turn(answer(), SCENARIO)
    assert turn == SimulatorTurn(
        global_updates={"tension": 30},
        agent_updates={"Alpha": {"trust": 0.7}},
        events=[{"type": "talks", "description": "Talks open"}],
        messages={"Alpha": "Talks begin.", "Beta": "Alpha proposes talks."},
        reasoning="De-escalation.",
    )


def test_parse_turn_extracts_and_validates_in_one_call() -> None:
    turn = parse_turn(f"<think>ok</think>```json\n{CONTRACT_TEXT}\n```", SCENARIO)
    assert turn.global_updates == {"tension": 30}


def test_the_turn_round_trips_to_the_contract_shape() -> None:
    turn = validate_turn(answer(), SCENARIO)
    assert validate_turn(turn.to_dict(), SCENARIO) == turn


def test_optional_keys_default_to_empty() -> None:
    turn = validate_turn({"agent_messages": {"Alpha": "a", "Beta": "b"}}, SCENARIO)
    assert turn.global_updates == {}
    assert turn.agent_updates == {}
    assert turn.events == []
    assert turn.reasoning == ""


def test_null_optional_keys_count_as_absent() -> None:
    raw = answer(state_updates={"global_vars": None, "agent_vars": None})
    raw["events"] = None
    raw["reasoning"] = None
    turn = validate_turn(raw, SCENARIO)
    assert (turn.global_updates, turn.events, turn.reasoning) == ({}, [], "")


def test_unknown_top_level_keys_are_ignored() -> None:
    raw = answer(narrative="The week was tense.", confidence=0.9)
    assert validate_turn(raw, SCENARIO) == validate_turn(answer(), SCENARIO)


def test_updates_follow_scenario_declaration_order_not_the_models_order() -> None:
    raw = answer(
        state_updates={
            "global_vars": {"headline": "War?", "crisis": True, "tension": 50},
            "agent_vars": {"Beta": {"troops": 3, "trust": 0.1}, "Alpha": {"troops": 4}},
        }
    )
    turn = validate_turn(raw, SCENARIO)
    assert list(turn.global_updates) == ["tension", "crisis", "headline"]
    assert list(turn.agent_updates) == ["Alpha", "Beta"]
    assert list(turn.agent_updates["Beta"]) == ["trust", "troops"]


def test_messages_follow_scenario_agent_order() -> None:
    turn = validate_turn(answer(agent_messages={"Beta": "b", "Alpha": "a"}), SCENARIO)
    assert list(turn.messages) == ["Alpha", "Beta"]


def test_an_unknown_agent_in_state_updates_is_rejected_naming_the_agents() -> None:
    raw = answer(state_updates={"agent_vars": {"Gamma": {"trust": 0.2}}})
    assert "state_updates.agent_vars.Gamma: unknown agent; the agents are Alpha, Beta" in (
        problems_of(raw)
    )


def test_an_unknown_global_variable_is_rejected_naming_the_variables() -> None:
    message = problems_of(answer(state_updates={"global_vars": {"gdp": 3}}))
    assert (
        "state_updates.global_vars.gdp: unknown global variable; the global variables are "
        "tension, oil_price, crisis, headline, alliances, treaty"
    ) in message


def test_an_unknown_agent_variable_is_rejected_naming_the_variables() -> None:
    message = problems_of(answer(state_updates={"agent_vars": {"Beta": {"morale": 3}}}))
    assert (
        "state_updates.agent_vars.Beta.morale: unknown agent variable; "
        "the agent variables are trust, troops"
    ) in message


def test_a_variable_in_a_scenario_without_variables_says_there_are_none() -> None:
    scenario = Scenario(agents=[AgentConfig(name="Solo", response_template="x")])
    raw = {"state_updates": {"global_vars": {"x": 1}}, "agent_messages": {"Solo": "hi"}}
    with pytest.raises(SimulatorContractError, match="this scenario has no global variables"):
        validate_turn(raw, scenario)


def test_variables_directly_under_state_updates_are_rejected_with_where_to_put_them() -> None:
    message = problems_of(answer(state_updates={"tension": 40, "Alpha": {"trust": 1}}))
    assert (
        "state_updates.tension: unknown key; state_updates may contain only global_vars and "
        "agent_vars (put global variables under state_updates.global_vars)"
    ) in message
    assert "state_updates.Alpha: unknown key" in message
    assert "(put agent variables under state_updates.agent_vars)" in message


def test_state_updates_that_is_not_an_object_is_rejected() -> None:
    assert "state_updates: expected an object with global_vars and agent_vars, got [1]" in (
        problems_of(answer(state_updates=[1]))
    )


def test_agent_updates_that_are_not_objects_are_rejected() -> None:
    message = problems_of(answer(state_updates={"agent_vars": {"Alpha": 5}, "global_vars": "x"}))
    assert "state_updates.agent_vars.Alpha: expected an object of variable: value, got 5" in message
    assert "state_updates.global_vars: expected an object of variable: value, got 'x'" in message


def test_a_word_for_an_int_variable_is_rejected_naming_the_type() -> None:
    message = problems_of(answer(state_updates={"global_vars": {"tension": "high"}}))
    assert "state_updates.global_vars.tension: expected an int (a whole number), got 'high'" in (
        message
    )


def test_a_missing_agent_message_is_rejected() -> None:
    message = problems_of(answer(agent_messages={"Alpha": "hi"}))
    assert "agent_messages: missing a message for Beta" in message


def test_missing_agent_messages_altogether_is_rejected_naming_every_agent() -> None:
    message = problems_of(answer(agent_messages=None))
    assert "agent_messages: missing; give a message for every agent: Alpha, Beta" in message


def test_agent_messages_that_is_not_an_object_is_rejected() -> None:
    message = problems_of(answer(agent_messages=["hi", "there"]))
    assert "agent_messages: expected an object of agent name: message" in message


def test_a_message_for_an_unknown_agent_is_rejected() -> None:
    message = problems_of(answer(agent_messages={"Alpha": "a", "Beta": "b", "Gamma": "c"}))
    assert "agent_messages.Gamma: unknown agent; the agents are Alpha, Beta" in message


def test_a_non_string_message_is_rejected() -> None:
    message = problems_of(answer(agent_messages={"Alpha": {"text": "a"}, "Beta": "b"}))
    assert "agent_messages.Alpha: expected a string, got {\"text\": \"a\"}" in message


@pytest.mark.parametrize("empty", ["", "   \n"])
def test_an_empty_or_blank_message_is_rejected(empty: str) -> None:
    message = problems_of(answer(agent_messages={"Alpha": "a", "Beta": empty}))
    assert "agent_messages.Beta: empty message" in message


def test_a_scenario_without_agents_needs_no_messages() -> None:
    assert validate_turn({}, Scenario()).messages == {}


def test_all_problems_are_collected_in_one_error() -> None:
    raw = {
        "state_updates": {
            "global_vars": {"tension": "high", "gdp": 1},
            "agent_vars": {"Gamma": {}, "Alpha": {"trust": True}},
        },
        "events": [42],
        "agent_messages": {"Alpha": ""},
    }
    with pytest.raises(SimulatorContractError) as caught:
        validate_turn(raw, SCENARIO)
    problems = caught.value.problems  # type: ignore[attr-defined]
    assert problems == [
        "state_updates.global_vars.gdp: unknown global variable; the global variables are "
        "tension, oil_price, crisis, headline, alliances, treaty",
        "state_updates.global_vars.tension: expected an int (a whole number), got 'high'",
        "state_updates.agent_vars.Gamma: unknown agent; the agents are Alpha, Beta",
        "state_updates.agent_vars.Alpha.trust: expected a number, got true",
        "events[0]: expected an object with type and description (or a string), got 42",
        "agent_messages.Alpha: empty message; every agent needs a message",
        "agent_messages: missing a message for Beta",
    ]
    message = caught.value.message
    assert message.startswith("your JSON answer broke the simulator contract (7 problems):\n")
    assert all(f"- {problem}" in message for problem in problems)
    assert message.endswith(
        "Fix these and reply with the whole corrected JSON object "
        "(keys state_updates, events, agent_messages, reasoning)."
    )


def test_the_error_text_stays_short_even_with_many_problems() -> None:
    many_agents = Scenario(
        agent_vars={"trust": VarDef(type="float", default=0.5)},
        agents=[AgentConfig(name=f"Agent{'x' * 40}{i}", response_template="x") for i in range(50)],
    )
    raw = {
        "state_updates": {
            "agent_vars": {f"Ghost{i}": {"trust": 1} for i in range(100)},
            "global_vars": {"tension": "x" * 500},
        },
        "events": [None] * 100,
        "agent_messages": {},
    }
    with pytest.raises(SimulatorContractError) as caught:
        validate_turn(raw, many_agents)
    message = caught.value.message
    assert len(message) < 2000
    total = len(caught.value.problems)  # type: ignore[attr-defined]
    assert total == 251
    listed = message.count("\n- ") - 1
    assert 1 <= listed < MAX_LISTED_PROBLEMS  # the long lines hit the character budget
    assert f"- … and {total - listed} more" in message


def test_at_most_the_cap_of_short_problems_is_listed() -> None:
    raw = {"state_updates": {"global_vars": {"tension": "x"}}, "events": [None] * 30}
    with pytest.raises(SimulatorContractError) as caught:
        validate_turn(raw, SCENARIO)
    message = caught.value.message
    assert message.count("\n- ") == MAX_LISTED_PROBLEMS + 1
    assert f"- … and {32 - MAX_LISTED_PROBLEMS} more" in message


def test_a_long_bad_value_is_shortened_in_the_message() -> None:
    message = problems_of(answer(state_updates={"global_vars": {"tension": "very " * 100}}))
    line = next(line for line in message.splitlines() if "tension" in line)
    assert len(line) < 120
    assert line.endswith("…")


# ------------------------------------------------------------------- coercion


def updates_of(**global_vars: Any) -> dict[str, Any]:
    raw = answer(state_updates={"global_vars": global_vars})
    return validate_turn(raw, SCENARIO).global_updates


@pytest.mark.parametrize(
    ("given", "expected"),
    [(3, 3), (3.0, 3), ("42", 42), (" 7 ", 7), ("5.0", 5), (-2, -2), (1e3, 1000)],
)
def test_an_int_variable_accepts_ints_whole_floats_and_numeric_strings(
    given: Any, expected: int
) -> None:
    coerced = updates_of(tension=given)["tension"]
    assert coerced == expected
    assert type(coerced) is int


@pytest.mark.parametrize(
    "given", [3.5, True, False, "3.5", "high", None, [3], {"v": 3}, "nan", float("inf")]
)
def test_an_int_variable_rejects_fractions_bools_words_and_containers(given: Any) -> None:
    assert "state_updates.global_vars.tension: expected an int" in problems_of(
        answer(state_updates={"global_vars": {"tension": given}})
    )


@pytest.mark.parametrize(("given", "expected"), [(3, 3.0), (2.5, 2.5), ("1.25", 1.25), ("4", 4.0)])
def test_a_float_variable_accepts_ints_floats_and_numeric_strings(
    given: Any, expected: float
) -> None:
    coerced = updates_of(oil_price=given)["oil_price"]
    assert coerced == expected
    assert type(coerced) is float


@pytest.mark.parametrize("given", [True, "cheap", None, float("nan"), "inf", 10**400])
def test_a_float_variable_rejects_bools_words_and_non_finite_numbers(given: Any) -> None:
    assert "state_updates.global_vars.oil_price: expected a number" in problems_of(
        answer(state_updates={"global_vars": {"oil_price": given}})
    )


@pytest.mark.parametrize(
    ("given", "expected"), [(True, True), (False, False), ("TRUE", True), (" false ", False)]
)
def test_a_bool_variable_accepts_booleans_and_true_false_strings(
    given: Any, expected: bool
) -> None:
    assert updates_of(crisis=given)["crisis"] is expected


@pytest.mark.parametrize("given", [1, 0, "yes", None, "truee"])
def test_a_bool_variable_rejects_numbers_and_other_words(given: Any) -> None:
    assert "state_updates.global_vars.crisis: expected true or false" in problems_of(
        answer(state_updates={"global_vars": {"crisis": given}})
    )


@pytest.mark.parametrize(("given", "expected"), [("War", "War"), ("", ""), (3, "3"), (2.5, "2.5")])
def test_a_str_variable_accepts_strings_and_converts_numbers(given: Any, expected: str) -> None:
    assert updates_of(headline=given)["headline"] == expected


@pytest.mark.parametrize("given", [True, None, ["a"], {"a": 1}])
def test_a_str_variable_rejects_bools_null_and_containers(given: Any) -> None:
    assert "state_updates.global_vars.headline: expected a string" in problems_of(
        answer(state_updates={"global_vars": {"headline": given}})
    )


def test_list_and_dict_variables_accept_only_lists_and_objects() -> None:
    assert updates_of(alliances=["A", "B"], treaty={"signed": True}) == {
        "alliances": ["A", "B"],
        "treaty": {"signed": True},
    }
    message = problems_of(
        answer(state_updates={"global_vars": {"alliances": "A,B", "treaty": ["x"]}})
    )
    assert "state_updates.global_vars.alliances: expected a list, got 'A,B'" in message
    assert 'state_updates.global_vars.treaty: expected an object, got ["x"]' in message


def test_list_and_dict_values_are_copied_from_the_raw_answer() -> None:
    raw = answer(state_updates={"global_vars": {"alliances": [["A", "B"]]}})
    turn = validate_turn(raw, SCENARIO)
    raw["state_updates"]["global_vars"]["alliances"][0].append("C")
    assert turn.global_updates["alliances"] == [["A", "B"]]


# ---------------------------------------------------------- events, reasoning


def test_string_events_become_events_of_type_event() -> None:
    turn = validate_turn(answer(events=["Riots in the capital"]), SCENARIO)
    assert turn.events == [{"type": "event", "description": "Riots in the capital"}]


def test_event_objects_get_a_type_and_a_description_as_strings() -> None:
    events = [
        {"description": "Summit"},
        {"type": "", "description": "x"},
        {"type": 7, "description": {"what": "coup"}, "severity": 3},
        {"type": "shock"},
    ]
    turn = validate_turn(answer(events=events), SCENARIO)
    assert turn.events == [
        {"type": "event", "description": "Summit"},
        {"type": "event", "description": "x"},
        {"type": "7", "description": '{"what": "coup"}', "severity": 3},
        {"type": "shock", "description": ""},
    ]


def test_events_that_are_not_a_list_are_rejected() -> None:
    assert "events: expected a list of events, got 'a coup'" in problems_of(answer(events="a coup"))


@pytest.mark.parametrize("bad", [42, None, ["x"], True])
def test_an_event_that_is_neither_an_object_nor_a_string_is_rejected(bad: Any) -> None:
    message = problems_of(answer(events=["ok", bad]))
    assert "events[1]: expected an object with type and description (or a string)" in message


@pytest.mark.parametrize(
    ("given", "expected"),
    [("why", "why"), ({"step": "one"}, '{"step": "one"}'), (["a", "b"], '["a", "b"]'), (3, "3")],
)
def test_reasoning_that_is_not_a_string_is_turned_into_text(given: Any, expected: str) -> None:
    assert validate_turn(answer(reasoning=given), SCENARIO).reasoning == expected


def test_a_top_level_value_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(SimulatorContractError, match="the answer must be a JSON object"):
        validate_turn(["not", "an", "object"], SCENARIO)  # type: ignore[arg-type]


def test_validation_is_deterministic() -> None:
    raw = {
        "state_updates": {"global_vars": {"zeta": 1, "alpha": 2, "tension": "x"}},
        "agent_messages": {"Zed": "a"},
    }
    messages = set()
    for _ in range(5):
        with pytest.raises(SimulatorContractError) as caught:
            validate_turn(json.loads(json.dumps(raw)), make_scenario())
        messages.add(caught.value.message)
    assert len(messages) == 1

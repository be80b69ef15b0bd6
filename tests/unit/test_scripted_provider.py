"""The offline ``scripted`` provider and the provider resolver (DESIGN §10)."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import re
import subprocess
import sys
import time
from typing import Any

import pytest

from apart.errors import ConfigError
from apart.llm import (
    CallContext,
    Completion,
    LLMRequest,
    Message,
    Provider,
    ScriptedProvider,
    provider_names,
    resolve_provider,
)
from apart.llm.scripted import MAX_LIST_ITEMS, description_options
from apart.scenario.schema import LLMConfig

AGENTS = ["Helix Labs", "Northwind AI", "Regulator"]
CONTRACT_KEYS = {"state_updates", "events", "agent_messages", "reasoning"}
PYTHON_TYPES: dict[str, type] = {
    "int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict,
}


def var(kind: str, value: Any, lo: float | None = None, hi: float | None = None,
        description: str = "") -> dict[str, Any]:
    return {"type": kind, "min": lo, "max": hi, "value": value, "description": description}


def global_vars() -> dict[str, dict[str, Any]]:
    """All six types; bounded, half-bounded and open-ended numbers."""
    return {
        "tension": var("int", 50, 0, 100, "Overall tension (0-100)"),
        "public_trust": var("float", 0.6, 0.0, 1.0),
        "incident_count": var("int", 0, 0, None),
        "gdp_billion": var("float", 1200.0, None, None),
        "debt_ratio": var("float", 0.8, None, 1.0),
        "tiny_range": var("float", 0.0015, 0.001, 0.002),
        "one_int": var("int", 3, 3, 3),
        "regulation_in_force": var("bool", False),
        "regulatory_stage": var("str", "none", description="none, consultation, draft, enacted"),
        "mood": var("str", "steady", description="Public mood"),
        "headlines": var("list", []),
        "compute_prices": var("dict", {"h100_hour_usd": 2.5, "spot_discount": 0.3, "label": "x"}),
    }


def agent_vars() -> dict[str, dict[str, Any]]:
    return {
        "capability": var("int", 50, 0, 100),
        "escalation_readiness": var("int", 40, 0, 100),
        "trust_level": var("float", 0.5, 0.0, 1.0),
        "compute_pflops": var("float", 100.0, 0.0, None),
        "released_model": var("bool", False),
        "stance": var("str", "neutral", description="Stance (hawkish, neutral, dovish)"),
        "allies": var("list", ["Regulator"]),
        "budget": var("dict", {"safety": 10, "research": 40}),
    }


def sim_hints(step: int = 1, *, events: list[dict[str, str]] | None = None,
              answers: dict[str, str] | None = None,
              globals_: dict[str, Any] | None = None,
              agents_: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "kind": "simulator",
        "step": step,
        "max_steps": 24,
        "time_step_duration": "1 month",
        "global_vars": globals_ if globals_ is not None else global_vars(),
        "agent_vars": agents_ if agents_ is not None else {a: agent_vars() for a in AGENTS},
        "agents": list(AGENTS),
        "scripted_events": events or [],
        "agent_answers": answers if answers is not None else (
            {} if step == 0 else {a: f"{a} holds its course." for a in AGENTS}
        ),
        "clamps": [],
        "feedback": None,
    }


def sim_request(hints: dict[str, Any] | None = None, *, seed: int = 7, step: int | None = None,
                attempt: int = 1, model: str = "scripted-v1",
                run_id: str = "run-1") -> LLMRequest:
    hints = hints if hints is not None else sim_hints(step or 1)
    step = step if step is not None else int(hints["step"])
    return LLMRequest(
        system="You are the game master.",
        messages=(Message("user", f"Step {step}: the world as it stands."),),
        context=CallContext(run_id, seed, step, "simulator", "simulator", attempt),
        model=model,
        json_mode=True,
        hints=hints,
    )


def agent_request(agent: str = "Helix Labs", *, seed: int = 7, step: int = 1,
                  message: str = "A deployed model was used in a large fraud campaign.",
                  model: str = "scripted-v1", system_prompt: str = "You lead a lab.",
                  ) -> LLMRequest:
    return LLMRequest(
        system=system_prompt,
        messages=(Message("user", message),),
        context=CallContext("run-1", seed, step, "agent", agent),
        model=model,
        hints={
            "kind": "agent", "agent": agent, "step": step, "message": message,
            "variables": {"capability": 70, "trust_level": 0.4, "released_model": False},
            "system_prompt": system_prompt,
        },
    )


def complete(request: LLMRequest, provider: ScriptedProvider | None = None) -> Completion:
    return asyncio.run((provider or ScriptedProvider()).complete(request))


def turn(request: LLMRequest) -> dict[str, Any]:
    return json.loads(complete(request).text)


def apply_turn(hints: dict[str, Any], answer: dict[str, Any]) -> None:
    """Write the answer's updates into the hints' values (as the engine would)."""
    updates = answer["state_updates"]
    for name, value in updates["global_vars"].items():
        hints["global_vars"][name]["value"] = value
    for agent, changes in updates["agent_vars"].items():
        for name, value in changes.items():
            hints["agent_vars"][agent][name]["value"] = value


def assert_valid_update(spec: dict[str, Any], value: Any, where: str) -> None:
    expected = PYTHON_TYPES[spec["type"]]
    assert isinstance(value, expected), f"{where}: {value!r} is not {spec['type']}"
    if spec["type"] == "int":
        assert not isinstance(value, bool), where
    if spec["type"] in ("int", "float"):
        if spec["min"] is not None:
            assert value >= spec["min"], f"{where}: {value} < min {spec['min']}"
        if spec["max"] is not None:
            assert value <= spec["max"], f"{where}: {value} > max {spec['max']}"


def assert_follows_contract(hints: dict[str, Any], answer: dict[str, Any]) -> None:
    assert set(answer) == CONTRACT_KEYS
    updates = answer["state_updates"]
    assert set(updates) == {"global_vars", "agent_vars"}
    for name, value in updates["global_vars"].items():
        assert name in hints["global_vars"], f"unknown global variable {name}"
        assert_valid_update(hints["global_vars"][name], value, name)
    for agent, changes in updates["agent_vars"].items():
        assert agent in hints["agents"], f"unknown agent {agent}"
        for name, value in changes.items():
            assert name in hints["agent_vars"][agent], f"unknown variable {agent}.{name}"
            assert_valid_update(hints["agent_vars"][agent][name], value, f"{agent}.{name}")
    assert set(answer["agent_messages"]) == set(hints["agents"])
    assert all(isinstance(m, str) and m.strip() for m in answer["agent_messages"].values())
    for event in answer["events"]:
        assert isinstance(event["type"], str) and isinstance(event["description"], str)
    assert isinstance(answer["reasoning"], str) and answer["reasoning"].strip()


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


# ------------------------------------------------------------------ determinism


def test_the_same_request_twice_gives_the_same_text() -> None:
    assert complete(sim_request()).text == complete(sim_request()).text
    assert complete(agent_request()).text == complete(agent_request()).text


def test_a_different_seed_step_or_role_gives_a_different_answer() -> None:
    base = complete(sim_request(seed=7)).text
    assert complete(sim_request(seed=8)).text != base
    assert complete(sim_request(sim_hints(step=2), step=2)).text != base

    agent = complete(agent_request("Helix Labs")).text
    assert complete(agent_request("Northwind AI")).text != agent
    assert complete(agent_request(seed=8)).text != agent
    assert complete(agent_request(step=2)).text != agent


def test_different_seeds_give_different_agent_answers_across_many_seeds() -> None:
    answers = {complete(agent_request(seed=seed)).text for seed in range(30)}
    assert len(answers) > 20


def test_the_answer_does_not_depend_on_the_run_id() -> None:
    assert complete(sim_request(run_id="a")).text == complete(sim_request(run_id="b")).text


def test_answers_are_the_same_in_another_process_with_another_hash_seed() -> None:
    code = (
        "import asyncio, sys; sys.path.insert(0, sys.argv[1]);"
        "from test_scripted_provider import complete, sim_request, agent_request;"
        "print(complete(sim_request()).text); print(complete(agent_request()).text)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, "-c", code, here], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert out == complete(sim_request()).text + "\n" + complete(agent_request()).text + "\n"


def test_concurrent_calls_in_any_order_give_the_same_results_as_sequential_calls() -> None:
    requests = [sim_request(seed=s) for s in range(4)]
    requests += [agent_request(a, seed=s) for a in AGENTS for s in range(4)]
    provider = ScriptedProvider()
    sequential = [complete(r, provider).text for r in requests]

    order = list(range(len(requests)))
    random.Random(3).shuffle(order)

    async def gather_shuffled() -> list[str]:
        done = await asyncio.gather(*(provider.complete(requests[i]) for i in order))
        return [c.text for c in done]

    results = asyncio.run(gather_shuffled())
    assert [results[order.index(i)] for i in range(len(requests))] == sequential


def test_the_global_random_module_is_not_used() -> None:
    random.seed(1)
    first = complete(sim_request()).text
    random.seed(2)
    random.random()
    assert complete(sim_request()).text == first


# --------------------------------------------------------------- the simulator


def test_simulator_output_is_one_json_object_with_the_four_contract_keys() -> None:
    answer = turn(sim_request())
    assert set(answer) == CONTRACT_KEYS
    assert set(answer["state_updates"]) == {"global_vars", "agent_vars"}


def test_simulator_writes_a_briefing_for_every_agent_naming_the_step_and_a_variable() -> None:
    hints = sim_hints(step=3)
    answer = turn(sim_request(hints))
    assert set(answer["agent_messages"]) == set(AGENTS)
    for agent, message in answer["agent_messages"].items():
        assert agent in message
        assert "step 3" in message
        assert any(name in message for name in agent_vars())


def test_step_zero_opens_the_simulation_with_a_message_for_every_agent() -> None:
    hints = sim_hints(step=0)
    answer = turn(sim_request(hints))
    assert_follows_contract(hints, answer)
    assert all("opens" in m for m in answer["agent_messages"].values())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_updates_name_known_variables_with_the_right_types_within_bounds_over_many_steps(
    seed: int,
) -> None:
    hints = sim_hints(step=0)
    changed: set[str] = set()
    for step in range(0, 60):
        hints["step"] = step
        hints["scripted_events"] = (
            [{"type": "shock", "description": "A cyberattack hits the grid."}]
            if step % 7 == 3 else []
        )
        answer = turn(sim_request(hints, seed=seed))
        assert_follows_contract(hints, answer)
        changed |= set(answer["state_updates"]["global_vars"])
        for changes in answer["state_updates"]["agent_vars"].values():
            changed |= set(changes)
        apply_turn(hints, answer)
        hints["agent_answers"] = {
            a: complete(agent_request(a, seed=seed, step=step + 1)).text for a in AGENTS
        }
    # every kind of variable moves at some point (a one-value int cannot)
    assert changed >= (set(global_vars()) - {"one_int"}) | set(agent_vars())


def test_not_every_variable_changes_every_step() -> None:
    hints = sim_hints(step=4)
    sizes = []
    for seed in range(20):
        updates = turn(sim_request(hints, seed=seed))["state_updates"]["global_vars"]
        sizes.append(len(updates))
    assert max(sizes) < len(global_vars())
    assert sum(sizes) > 0


def test_numbers_drift_by_small_steps() -> None:
    hints = sim_hints(step=5)
    for seed in range(30):
        updates = turn(sim_request(hints, seed=seed))["state_updates"]["global_vars"]
        if "tension" in updates:
            assert abs(updates["tension"] - 50) <= 15
        if "public_trust" in updates:
            assert abs(updates["public_trust"] - 0.6) <= 0.15
            assert updates["public_trust"] == round(updates["public_trust"], 3)
        if "gdp_billion" in updates:
            assert 1200.0 <= updates["gdp_billion"] <= 1200.0 * 1.05


def test_open_ended_counts_never_go_down() -> None:
    calm = {a: "We will cooperate, negotiate and comply with every safety audit." for a in AGENTS}
    for seed in range(30):
        hints = sim_hints(step=5, answers=calm)
        hints["global_vars"]["incident_count"]["value"] = 4
        updates = turn(sim_request(hints, seed=seed))["state_updates"]["global_vars"]
        assert updates.get("incident_count", 4) >= 4


def average_change(name: str, **hint_args: Any) -> float:
    total = 0.0
    for seed in range(40):
        hints = sim_hints(step=5, **hint_args)
        before = hints["global_vars"][name]["value"]
        updates = turn(sim_request(hints, seed=seed))["state_updates"]["global_vars"]
        total += updates.get(name, before) - before
    return total / 40


def test_a_scripted_event_appears_in_the_events_and_raises_tension() -> None:
    event = {"type": "shock", "description": "A cyberattack hits the grid."}
    answer = turn(sim_request(sim_hints(step=5, events=[event])))
    assert event in answer["events"]
    assert average_change("tension", events=[event]) > average_change("tension") + 2
    assert average_change("public_trust", events=[event]) < average_change("public_trust")
    assert average_change("incident_count", events=[event]) >= 0.9


def test_escalating_answers_raise_tension_and_cooperative_answers_lower_it() -> None:
    hawks = {a: f"{a} will escalate and answer the threat with an attack." for a in AGENTS}
    doves = {a: f"{a} will negotiate, cooperate and propose a safety pause." for a in AGENTS}
    assert average_change("tension", answers=hawks) > average_change("tension", answers=doves) + 3
    assert average_change("public_trust", answers=hawks) < average_change(
        "public_trust", answers=doves
    )


def test_a_str_variable_advances_through_the_options_of_its_description() -> None:
    assert description_options("none, consultation, draft, enacted") == [
        "none", "consultation", "draft", "enacted",
    ]
    assert description_options("Stage (calm / tense / war)") == ["calm", "tense", "war"]
    assert description_options("Public trust in AI developers") == []
    seen = ["none"]
    hints = sim_hints(step=1)
    for step in range(1, 120):
        hints["step"] = step
        answer = turn(sim_request(hints))
        stage = answer["state_updates"]["global_vars"].get("regulatory_stage")
        if stage is not None:
            seen.append(stage)
        apply_turn(hints, answer)
    assert seen == ["none", "consultation", "draft", "enacted"]


def test_list_variables_get_headlines_and_keep_at_most_five_items() -> None:
    hints = sim_hints(step=1)
    hints["global_vars"]["headlines"]["value"] = [f"old {i}" for i in range(5)]
    event = {"type": "incident", "description": "A model is used in a fraud campaign."}
    hints["scripted_events"] = [event]
    headlines = turn(sim_request(hints))["state_updates"]["global_vars"]["headlines"]
    assert len(headlines) == MAX_LIST_ITEMS
    assert "fraud campaign" in headlines[-1]
    assert headlines[0] == "old 1"


def test_dict_variables_have_one_numeric_entry_nudged() -> None:
    nudged = 0
    for seed in range(30):
        hints = sim_hints(step=2)
        updates = turn(sim_request(hints, seed=seed))["state_updates"]["global_vars"]
        if "compute_prices" not in updates:
            continue
        nudged += 1
        old = hints["global_vars"]["compute_prices"]["value"]
        new = updates["compute_prices"]
        assert set(new) == set(old) and new["label"] == "x"
        assert sum(new[k] != old[k] for k in old) == 1
    assert nudged > 0


def test_the_simulator_adds_some_events_of_its_own() -> None:
    counts = [len(turn(sim_request(sim_hints(step=3), seed=s))["events"]) for s in range(40)]
    assert 0 < sum(counts) and max(counts) <= 2


def test_reasoning_has_one_to_three_sentences() -> None:
    for seed in range(10):
        hints = sim_hints(step=3)
        hints["feedback"] = "agent_messages: missing a message for 'Regulator'"
        assert 1 <= len(sentences(turn(sim_request(hints, seed=seed))["reasoning"])) <= 3


def test_a_world_without_agents_or_variables_still_gives_a_valid_answer() -> None:
    hints = sim_hints(step=1, globals_={}, agents_={})
    hints["agents"] = []
    hints["agent_answers"] = {}
    answer = turn(sim_request(hints))
    assert answer["state_updates"] == {"global_vars": {}, "agent_vars": {}}
    assert answer["agent_messages"] == {}


# -------------------------------------------------------------------- agents


def test_an_agent_answers_in_one_to_three_sentences_of_prose_naming_itself() -> None:
    for seed in range(30):
        text = complete(agent_request("Helix Labs", seed=seed)).text
        assert text.startswith("Helix Labs ")
        assert 1 <= len(sentences(text)) <= 3
        assert "{" not in text


def test_agents_sometimes_escalate_and_sometimes_cooperate() -> None:
    texts = " ".join(complete(agent_request(seed=s)).text for s in range(40)).lower()
    assert re.search(r"escalate|race|threat|aggressive|strike", texts)
    assert re.search(r"negotiate|cooperate|pause|comply|de-escalate", texts)


# -------------------------------------------------------------- model variants


def test_scripted_invalid_never_returns_simulator_json_but_agents_still_answer() -> None:
    for seed in range(10):
        text = complete(sim_request(seed=seed, model="scripted-invalid")).text
        assert "{" not in text
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
    assert complete(agent_request(model="scripted-invalid")).text.startswith("Helix Labs")


def test_scripted_flaky_fails_the_first_attempt_and_succeeds_on_later_attempts() -> None:
    hints = sim_hints(step=2)
    with pytest.raises(json.JSONDecodeError):
        json.loads(complete(sim_request(hints, model="scripted-flaky", attempt=1)).text)
    hints["feedback"] = "your answer contained no JSON object"
    for attempt in (2, 3):
        answer = turn(sim_request(hints, model="scripted-flaky", attempt=attempt))
        assert_follows_contract(hints, answer)


def test_any_other_model_name_behaves_normally() -> None:
    for model in ("scripted-v2", "gpt-4o", ""):
        hints = sim_hints(step=2)
        assert_follows_contract(hints, turn(sim_request(hints, model=model)))


# --------------------------------------------------------- completion metadata


def test_the_completion_reports_model_tokens_latency_and_zero_cost() -> None:
    request = sim_request()
    done = complete(request)
    prompt = len(request.system) + sum(len(m.content) for m in request.messages)
    assert done.model == "scripted-v1"
    assert done.input_tokens == -(-prompt // 4)
    assert done.output_tokens == -(-len(done.text) // 4)
    assert done.cost_usd == 0.0
    assert done.latency_ms >= 0.0
    assert complete(sim_request(model="")).model == "scripted-v1"


def test_the_provider_implements_the_provider_interface() -> None:
    provider = ScriptedProvider()
    assert isinstance(provider, Provider)
    assert provider.name == "scripted"


def test_latency_is_honoured() -> None:
    started = time.perf_counter()
    done = complete(agent_request(), ScriptedProvider(latency_ms=100))
    assert time.perf_counter() - started >= 0.095
    assert done.latency_ms >= 95


def test_a_slow_call_is_cancelled_promptly() -> None:
    provider = ScriptedProvider(latency_ms=5000)

    async def call_with_timeout() -> None:
        await asyncio.wait_for(provider.complete(agent_request()), timeout=0.05)

    started = time.perf_counter()
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(call_with_timeout())
    assert time.perf_counter() - started < 1.0


def test_a_negative_latency_is_refused() -> None:
    with pytest.raises(ValueError):
        ScriptedProvider(latency_ms=-1)


def test_the_provider_does_not_change_the_request_hints() -> None:
    hints = sim_hints(step=3)
    before = copy.deepcopy(hints)
    complete(sim_request(hints))
    assert hints == before


# ------------------------------------------------------------------- resolver


def test_the_resolver_builds_a_scripted_provider_with_the_configured_latency() -> None:
    provider = resolve_provider(LLMConfig(provider="scripted", latency_ms=25))
    assert isinstance(provider, ScriptedProvider) and provider.latency_ms == 25


def test_the_resolver_falls_back_to_the_default_latency() -> None:
    provider = resolve_provider(LLMConfig(), default_latency_ms=40)
    assert isinstance(provider, ScriptedProvider) and provider.latency_ms == 40
    zero = resolve_provider(LLMConfig(latency_ms=0), default_latency_ms=40)
    assert isinstance(zero, ScriptedProvider) and zero.latency_ms == 0


def test_the_override_replaces_the_configured_provider() -> None:
    config = LLMConfig(provider="gemini", model="gemini-1.5-flash")
    assert isinstance(resolve_provider(config, override="scripted"), ScriptedProvider)
    with pytest.raises(ConfigError):
        resolve_provider(LLMConfig(), override="openai")


def test_the_resolver_builds_a_new_provider_each_time() -> None:
    assert resolve_provider(LLMConfig()) is not resolve_provider(LLMConfig())


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini", "grok", "ollama"])
def test_real_providers_are_refused_with_a_hint_to_run_offline(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_provider(LLMConfig(provider=name))  # type: ignore[arg-type]
    assert f"'{name}'" in caught.value.message
    assert "--provider scripted" in caught.value.message


def test_an_unknown_override_is_refused_with_the_known_names() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_provider(LLMConfig(), override="mistral")
    assert "'mistral'" in caught.value.message
    assert "scripted" in caught.value.message


def test_provider_names_lists_every_scenario_provider() -> None:
    assert provider_names() == ["scripted", "openai", "anthropic", "gemini", "grok", "ollama"]

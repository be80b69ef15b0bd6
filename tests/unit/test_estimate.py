"""A run's cost can be estimated before it starts, from its real prompts and prices."""

from __future__ import annotations

from apart.llm.pricing import Pricing
from apart.scenario.loader import load_scenario_text
from apart.sim.estimate import estimate_run
from tests.helpers import scenario_text


def test_the_estimate_counts_every_call_and_prices_each_role_with_its_model() -> None:
    text = scenario_text(steps=10, agents=2).replace(
        "provider: scripted\n  model: scripted-v1", "provider: openai\n  model: gpt-4o", 1)
    scenario = load_scenario_text(text.replace("model: scripted-v1\n", "model: gpt-4o\n", 1))
    found = estimate_run(scenario, seed=1, max_steps=10, pricing=Pricing.shipped())
    by_role = {r.role: r for r in found.roles}
    assert set(by_role) == {"simulator", "Aster", "Boreal"}  # the template agent is free
    assert by_role["simulator"].calls == 11 and by_role["Aster"].calls == 10
    assert by_role["simulator"].provider == "openai" and by_role["simulator"].cost_usd > 0
    assert by_role["Aster"].cost_usd == 0.0  # scripted agents cost nothing
    assert found.tokens > 0


def test_a_longer_run_is_estimated_to_cost_more() -> None:
    scenario = load_scenario_text(scenario_text(steps=4))
    short = estimate_run(scenario, 1, 4, Pricing.shipped(), provider_override="openai")
    long = estimate_run(scenario, 1, 40, Pricing.shipped(), provider_override="openai")
    assert long.tokens > 5 * short.tokens

"""What a run will cost, before it starts (``apart run --estimate``).

The scenario is played for a few steps offline, on the ``scripted`` provider, to
measure the real prompts each role sends (system prompt, variables, history
window, answers); the step after the history window is full is taken as the
typical step. Tokens are then priced with each role's own provider and model.
Output lengths of real models vary more than the scripted ones: read the figure
as an order of magnitude, not a quote.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from apart.llm.pricing import Pricing
from apart.llm.scripted import ScriptedProvider
from apart.scenario.schema import LLMConfig, Scenario
from apart.sim.engine import Roles, Simulation
from apart.sim.state import RoleUsage


@dataclass(frozen=True)
class RoleEstimate:
    role: str
    provider: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    priced: bool


@dataclass(frozen=True)
class Estimate:
    steps: int
    roles: list[RoleEstimate]

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.roles)

    @property
    def tokens(self) -> int:
        return sum(r.input_tokens + r.output_tokens for r in self.roles)


def estimate_run(scenario: Scenario, seed: int, max_steps: int, pricing: Pricing,
                 provider_override: str | None = None) -> Estimate:
    sample = max(1, min(max_steps, scenario.engine.context_window_size + 1, 6))
    first, typical = asyncio.run(_sample(scenario, seed, sample))
    roles = []
    for role, config in _role_configs(scenario).items():
        once = first.get(role, RoleUsage())
        each = typical.get(role, RoleUsage())
        calls = once.calls + each.calls * max_steps
        input_tokens = once.input_tokens + each.input_tokens * max_steps
        output_tokens = once.output_tokens + each.output_tokens * max_steps
        provider = provider_override or config.provider
        price = pricing.price(provider, config.model)
        cost = price.cost(input_tokens, output_tokens) if price else 0.0
        roles.append(RoleEstimate(role, provider, config.model, calls, input_tokens,
                                  output_tokens, cost, price is not None))
    return Estimate(steps=max_steps, roles=roles)


async def _sample(scenario: Scenario, seed: int,
                  steps: int) -> tuple[dict[str, RoleUsage], dict[str, RoleUsage]]:
    """Usage by role of step 0, and of the last sampled step (the typical one)."""
    offline = ScriptedProvider()
    roles = Roles(simulator=offline, agents={a.name: offline for a in scenario.agents
                                             if a.response_template is None})
    sim = Simulation(scenario, run_id="estimate", seed=seed, roles=roles)
    state = (await sim.initialise()).state
    first = dict(state.usage.by_role)
    previous = state
    for _ in range(steps):
        previous, state = state, (await sim.advance(state)).state
    typical = {role: _minus(used, previous.usage.by_role.get(role, RoleUsage()))
               for role, used in state.usage.by_role.items()}
    return first, typical


def _minus(a: RoleUsage, b: RoleUsage) -> RoleUsage:
    return RoleUsage(input_tokens=a.input_tokens - b.input_tokens,
                     output_tokens=a.output_tokens - b.output_tokens,
                     cost_usd=a.cost_usd - b.cost_usd, calls=a.calls - b.calls)


def _role_configs(scenario: Scenario) -> dict[str, LLMConfig]:
    configs: dict[str, LLMConfig] = {"simulator": scenario.engine}
    for agent in scenario.agents:
        if agent.response_template is None and agent.llm is not None:
            configs[agent.name] = agent.llm
    return configs

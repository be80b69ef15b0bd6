"""Small builders shared by tests: scenarios as text, runs executed in-process."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from typing import Any

from apart.llm.registry import resolve_provider
from apart.runs import lifecycle
from apart.runs.executor import ExecutorOptions, RunExecutor
from apart.runs.export import trajectory
from apart.runs.records import RunRecord, RunStore
from apart.scenario.schema import LLMConfig
from apart.sim.engine import LiveEvent

FAST = ExecutorOptions(heartbeat_interval=0.5, poll_interval=0.01)


def scenario_text(
    *, steps: int = 4, latency_ms: int = 0, model: str = "scripted-v1", agents: int = 3
) -> str:
    """A small scenario with every variable type, a template agent and scripted events."""
    names = ["Aster", "Boreal", "Cinder", "Dune", "Ember", "Fjord", "Grove", "Heath",
             "Islet", "Juniper", "Kestrel", "Lumen", "Moraine", "Nimbus", "Onyx", "Pike"]
    agent_blocks = []
    for i in range(agents):
        llm = f"{{provider: scripted, model: scripted-v1, latency_ms: {latency_ms}}}"
        agent_blocks.append(
            f"  - name: {names[i]}\n"
            f"    system_prompt: You lead {names[i]}, a frontier AI lab.\n"
            f"    llm: {llm}\n"
            f"    variables: {{capability: {40 + i * 10}}}"
        )
    agent_blocks.append(
        "  - name: Board\n    response_template: The board reviews step {step} and waits."
    )
    return textwrap.dedent(f"""\
        max_steps: {steps}
        time_step_duration: "1 month"
        seed: 11
        engine:
          provider: scripted
          model: {model}
          latency_ms: {latency_ms}
          system_prompt: You run a simulation of AI labs racing.
          simulation_plan: Labs race, incidents happen, regulation arrives.
          context_window_size: 2
          scripted_events:
            - {{step: 1, type: incident, description: A model is misused for fraud.}}
        global_vars:
          tension: {{type: int, default: 30, min: 0, max: 100}}
          trust: {{type: float, default: 0.5, min: 0.0, max: 1.0}}
          treaty: {{type: bool, default: false}}
          stage: {{type: str, default: "none", description: "none, draft, enacted"}}
          headlines: {{type: list, default: []}}
          prices: {{type: dict, default: {{gpu_hour: 2.5}}}}
        agent_vars:
          capability: {{type: int, default: 50, min: 0, max: 100}}
          safety: {{type: float, default: 0.2, min: 0.0, max: 1.0}}
        agents:
        """) + "\n".join(agent_blocks) + "\n"


def resolver(default_latency_ms: int = 0) -> Callable[[LLMConfig, str | None], Any]:
    def resolve(config: LLMConfig, override: str | None) -> Any:
        return resolve_provider(config, default_latency_ms=default_latency_ms, override=override)

    return resolve


def submit(store: RunStore, text: str, run_id: str, **kwargs: Any) -> RunRecord:
    sub = lifecycle.Submission(scenario_text=text, run_id=run_id, **kwargs)
    return lifecycle.submit_run(store, sub, lambda cfg: resolver()(cfg, None))


def execute(
    store: RunStore,
    run_id: str,
    *,
    owner: str = "test-host:1:1",
    on_event: Callable[[LiveEvent], None] | None = None,
    executor_hook: Callable[[RunExecutor], None] | None = None,
) -> RunRecord:
    executor = RunExecutor(store, run_id, resolver(), options=FAST, on_event=on_event)
    if executor_hook is not None:
        executor_hook(executor)
    return asyncio.run(executor.execute(owner))


def run_to_end(store: RunStore, text: str, run_id: str, **kwargs: Any) -> RunRecord:
    submit(store, text, run_id, **kwargs)
    return execute(store, run_id)


def trajectory_of(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    return trajectory(store, run_id)

"""The scenario format (DESIGN §3) as pydantic models.

These models are the one description of a scenario that the rest of apart
reads. Loading (YAML text -> :class:`Scenario`, with errors that name the YAML
path) lives in :mod:`apart.scenario.loader`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

VarType = Literal["int", "float", "bool", "str", "list", "dict"]
ProviderName = Literal["scripted", "openai", "anthropic", "gemini", "grok", "ollama"]


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently do nothing."""

    model_config = ConfigDict(extra="forbid")


class VarDef(_Strict):
    """A typed variable with optional numeric bounds."""

    type: VarType
    default: Any = None
    min: float | None = None
    max: float | None = None
    description: str = ""


class LLMConfig(_Strict):
    """Which model plays a role. ``latency_ms`` only affects ``scripted``."""

    provider: ProviderName = "scripted"
    model: str = "scripted-v1"
    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_s: float = 120.0
    latency_ms: int | None = None


class ScriptedEvent(_Strict):
    step: int
    type: str
    description: str


class EngineConfig(LLMConfig):
    """The simulator (game master): an LLM plus its instructions."""

    system_prompt: str = ""
    simulation_plan: str = ""
    realism_guidelines: str = ""
    context_window_size: int = 5
    scripted_events: list[ScriptedEvent] = Field(default_factory=list)
    max_attempts: int = 3


class AgentConfig(_Strict):
    """An actor: played by ``llm``, or by a fixed ``response_template``."""

    name: str
    system_prompt: str = ""
    llm: LLMConfig | None = None
    response_template: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)


class Scenario(_Strict):
    """A whole scenario. Legacy keys are accepted and have no effect."""

    name: str = ""
    description: str = ""
    max_steps: int = 10
    time_step_duration: str = "1 step"
    simulator_awareness: bool = True
    seed: int | None = None
    engine: EngineConfig = Field(default_factory=EngineConfig)
    global_vars: dict[str, VarDef] = Field(default_factory=dict)
    agent_vars: dict[str, VarDef] = Field(default_factory=dict)
    agents: list[AgentConfig] = Field(default_factory=list)
    # accepted for compatibility with existing files (DESIGN §3)
    game_state: dict[str, Any] | None = None
    orchestrator_message: str | None = None
    enable_compute_resources: bool | None = None
    modules: list[Any] | None = None
    module_config: dict[str, Any] | None = None
    geography: Any = None

    @property
    def agent_names(self) -> list[str]:
        return [agent.name for agent in self.agents]

    def agent(self, name: str) -> AgentConfig:
        for agent in self.agents:
            if agent.name == name:
                return agent
        raise KeyError(name)

    def initial_agent_vars(self) -> dict[str, dict[str, Any]]:
        """Every agent has every agent variable from the start: defaults + overrides."""
        return {
            agent.name: {
                name: agent.variables.get(name, _copy(definition.default))
                for name, definition in self.agent_vars.items()
            }
            for agent in self.agents
        }

    def initial_global_vars(self) -> dict[str, Any]:
        return {name: _copy(d.default) for name, d in self.global_vars.items()}


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value

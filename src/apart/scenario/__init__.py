"""Scenarios: the YAML format of DESIGN §3, its models, and loading with located errors."""

from apart.scenario.loader import load_scenario_file, load_scenario_text
from apart.scenario.schema import (
    AgentConfig,
    EngineConfig,
    LLMConfig,
    Scenario,
    ScriptedEvent,
    VarDef,
    VarType,
    VarValueError,
    coerce_value,
)

__all__ = [
    "AgentConfig",
    "EngineConfig",
    "LLMConfig",
    "Scenario",
    "ScriptedEvent",
    "VarDef",
    "VarType",
    "VarValueError",
    "coerce_value",
    "load_scenario_file",
    "load_scenario_text",
]

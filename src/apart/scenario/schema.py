"""The scenario format (DESIGN §3) as pydantic models.

These models are the one description of a scenario that the rest of apart
reads. Loading (YAML text -> :class:`Scenario`, with errors that name the YAML
path) lives in :mod:`apart.scenario.loader`.

The validators here check what each part can check on its own (a variable's
default against its type and bounds, a timeout above zero, ...). They raise
:func:`rule_error`, which carries a human problem and fix that the loader turns
into a :class:`~apart.errors.ScenarioIssue`. Rules between parts (agent
overrides against ``agent_vars``, unique agent names, scripted events within
``max_steps``) live in the loader.

:func:`coerce_value`, :meth:`VarDef.accept` and :meth:`VarDef.clamp` are the
one definition of "a value that fits a variable"; the simulator can use them
for state updates too.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

VarType = Literal["int", "float", "bool", "str", "list", "dict"]
ProviderName = Literal["scripted", "openai", "anthropic", "gemini", "grok", "ollama"]

NUMERIC_TYPES: frozenset[str] = frozenset({"int", "float"})

#: pydantic error type of a broken scenario rule (see :func:`rule_error`)
RULE_ERROR = "scenario_rule"


def rule_error(problem: str, fix: str = "", field: str = "") -> PydanticCustomError:
    """A broken rule as a pydantic error; the loader reads ``problem`` and ``fix``.

    ``field`` names the key below the validated object that the problem is about
    (a model validator of :class:`VarDef` says ``field="default"``).
    """
    return PydanticCustomError(
        RULE_ERROR, "{problem}", {"problem": problem, "fix": fix, "field": field}
    )


class VarValueError(ValueError):
    """A value that does not fit a variable, with a human ``problem`` and ``fix``."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


#: what a value of each type is called in messages
TYPE_WORDS: dict[str, str] = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "text",
    "list": "a list",
    "dict": "a mapping",
}
_EXAMPLES: dict[str, str] = {
    "int": "a whole number such as 3",
    "float": "a number such as 0.5",
    "bool": "true or false",
    "str": "text",
    "list": "a list such as [] or [a, b]",
    "dict": "a mapping such as {} or {key: value}",
}
_ZEROS: dict[str, Any] = {"int": 0, "float": 0.0, "bool": False, "str": "", "list": [], "dict": {}}
_CONTAINERS: dict[str, type] = {"str": str, "list": list, "dict": dict}
_SCALARS: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,)}


def describe_value(value: Any) -> str:
    """A value as the scenario author wrote it, kind first: ``text '10'``, ``number 2.5``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    kinds = ((int, "whole number"), (float, "number"), (str, "text"), (list, "list"),
             (dict, "mapping"))
    kind = next((name for cls, name in kinds if isinstance(value, cls)), type(value).__name__)
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{kind} {shown}"


def coerce_value(var_type: VarType, value: Any) -> Any:
    """``value`` as a ``var_type`` value, or :class:`VarValueError` when it is not one.

    Whole floats become ``int`` for int variables (``3.0`` -> ``3``) and ints
    become ``float`` for float variables (``3`` -> ``3.0``). Booleans are never
    numbers, and ``str``, ``list`` and ``dict`` must be exactly that.
    """
    if isinstance(value, bool):
        fits = var_type == "bool"
    elif var_type == "int":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        fits = isinstance(value, int)
    elif var_type == "float":
        if isinstance(value, int):
            return float(value)
        fits = isinstance(value, float) and not math.isnan(value)
    else:
        fits = var_type in _CONTAINERS and isinstance(value, _CONTAINERS[var_type])
    if not fits:
        raise VarValueError(
            f"expected {TYPE_WORDS[var_type]} (the variable is {var_type}), "
            f"got {describe_value(value)}",
            _type_fix(var_type, value),
        )
    return value


def _type_fix(var_type: VarType, value: Any) -> str:
    if isinstance(value, str) and unquoted_fits(value, var_type):
        return f"remove the quotes around {value!r}"
    if var_type == "str" and value is not None:
        return f"put it in quotes: '{value}'"
    if var_type == "int" and isinstance(value, float) and math.isfinite(value):
        return f"use a whole number such as {round(value)}, or declare the variable as float"
    return f"use {_EXAMPLES[var_type]}"


def unquoted_fits(text: str, var_type: str) -> bool:
    """True when ``text`` written without quotes would be a ``var_type`` value (``'10'``)."""
    if var_type not in _SCALARS:
        return False
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return type(parsed) in _SCALARS[var_type]


def _number(value: float, var_type: str) -> str:
    """A bound or value as the author thinks of it: ``0`` for int variables, ``0.0`` for float."""
    if var_type == "int" and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _require(ok: bool, problem: str, fix: str) -> None:
    if not ok:
        raise rule_error(problem, fix)


def _none_as_empty(value: Any, empty: type) -> Any:
    """``key:`` with nothing after it (YAML null) means an empty section."""
    return empty() if value is None else value


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently do nothing."""

    model_config = ConfigDict(extra="forbid")


class VarDef(_Strict):
    """A typed variable with optional numeric bounds.

    After validation ``default`` is a value of ``type`` within the bounds: a
    missing (or null) default becomes the type's zero (``0``, ``0.0``,
    ``false``, ``""``, ``[]``, ``{}``), moved into the bounds for numbers.
    """

    type: VarType
    default: Any = None
    min: float | None = None
    max: float | None = None
    description: str = ""

    @field_validator("default")
    @classmethod
    def _default_fits_type(cls, value: Any, info: ValidationInfo) -> Any:
        var_type = info.data.get("type")
        if value is None or var_type is None:
            return value
        try:
            return coerce_value(var_type, value)
        except VarValueError as err:
            raise rule_error(err.problem, err.fix) from None

    @field_validator("min", "max")
    @classmethod
    def _bound_fits_type(cls, value: float | None, info: ValidationInfo) -> float | None:
        var_type = info.data.get("type")
        key = info.field_name
        if value is None or var_type is None:
            return value
        _require(var_type in NUMERIC_TYPES, f"{key} only applies to int and float variables",
                 f"remove {key} from this {var_type} variable")
        _require(var_type == "float" or not math.isfinite(value) or value.is_integer(),
                 f"{key} {value} is not a whole number, but the variable is int",
                 f"use a whole number for {key}, or declare the variable as float")
        low = info.data.get("min")
        _require(key != "max" or low is None or low <= value,
                 f"max {_number(value, var_type)} is below min {_number(low or 0.0, var_type)}",
                 "make max at least as large as min (did you swap them?)")
        return value

    @model_validator(mode="after")
    def _default_within_bounds(self) -> VarDef:
        if self.default is None:
            self.default = self.clamp(_ZEROS[self.type])
            return self
        try:
            self.check_bounds(self.default)
        except VarValueError as err:
            raise rule_error(err.problem, err.fix, field="default") from None
        return self

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    def check_bounds(self, value: Any) -> None:
        """Raise :class:`VarValueError` when a number lies outside ``[min, max]``."""
        if not self.numeric:
            return
        if self.min is not None and value < self.min:
            bound = f"below min {_number(self.min, self.type)}"
        elif self.max is not None and value > self.max:
            bound = f"above max {_number(self.max, self.type)}"
        else:
            return
        raise VarValueError(f"{_number(value, self.type)} is {bound}", self._range_fix())

    def accept(self, value: Any) -> Any:
        """``value`` coerced to this variable's type, if it fits type and bounds."""
        coerced = coerce_value(self.type, value)
        self.check_bounds(coerced)
        return coerced

    def clamp(self, value: Any) -> Any:
        """A number moved into ``[min, max]`` (of this variable's type); others unchanged."""
        if not self.numeric:
            return _copy(value)
        if self.min is not None:
            value = max(value, self.min)
        if self.max is not None:
            value = min(value, self.max)
        return int(value) if self.type == "int" else float(value)

    def _range_fix(self) -> str:
        low, high = self.min, self.max
        if low is not None and high is not None:
            return f"use a value between {_number(low, self.type)} and {_number(high, self.type)}"
        if low is not None:
            return f"use a value of at least {_number(low, self.type)}"
        return f"use a value of at most {_number(high or 0.0, self.type)}"


class LLMConfig(_Strict):
    """Which model plays a role. ``latency_ms`` only affects ``scripted``."""

    provider: ProviderName = "scripted"
    model: str = "scripted-v1"
    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_s: float = 120.0
    latency_ms: int | None = None

    @field_validator("temperature")
    @classmethod
    def _temperature_not_negative(cls, value: float | None) -> float | None:
        _require(value is None or value >= 0, f"must be 0 or more (got {value})",
                 "use a temperature such as 0.7, or remove the key for the model's default")
        return value

    @field_validator("max_tokens")
    @classmethod
    def _max_tokens_positive(cls, value: int | None) -> int | None:
        _require(value is None or value >= 1, f"must be at least 1 (got {value})",
                 "use a token limit such as 1024, or remove the key for the model's default")
        return value

    @field_validator("timeout_s")
    @classmethod
    def _timeout_positive(cls, value: float) -> float:
        _require(value > 0, f"must be above 0 (got {value})",
                 "give a timeout in seconds above 0, such as 120")
        return value

    @field_validator("latency_ms")
    @classmethod
    def _latency_not_negative(cls, value: int | None) -> int | None:
        _require(value is None or value >= 0, f"must be 0 or more (got {value})",
                 "give a simulated latency in milliseconds, 0 or more")
        return value


class ScriptedEvent(_Strict):
    step: int
    type: str
    description: str

    @field_validator("step")
    @classmethod
    def _step_not_negative(cls, value: int) -> int:
        _require(value >= 0, f"must be 0 or more (got {value})",
                 "use a step between 0 (the initialisation) and max_steps")
        return value


class EngineConfig(LLMConfig):
    """The simulator (game master): an LLM plus its instructions."""

    system_prompt: str = ""
    simulation_plan: str = ""
    realism_guidelines: str = ""
    context_window_size: int = 5
    scripted_events: list[ScriptedEvent] = Field(default_factory=list)
    max_attempts: int = 3

    @field_validator("scripted_events", mode="before")
    @classmethod
    def _no_events_when_null(cls, value: Any) -> Any:
        return _none_as_empty(value, list)

    @field_validator("context_window_size")
    @classmethod
    def _window_not_negative(cls, value: int) -> int:
        _require(value >= 0, f"must be 0 or more (got {value})",
                 "give the number of past steps the simulator sees, such as 5")
        return value

    @field_validator("max_attempts")
    @classmethod
    def _attempts_positive(cls, value: int) -> int:
        _require(value >= 1, f"must be at least 1 (got {value})",
                 "give how often the simulator may try a step, such as 3")
        return value


class AgentConfig(_Strict):
    """An actor: played by ``llm``, or by a fixed ``response_template``.

    Not both. An agent loaded with neither is played by the engine's LLM
    (see :mod:`apart.scenario.loader`).
    """

    name: str
    system_prompt: str = ""
    llm: LLMConfig | None = None
    response_template: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        _require(bool(value.strip()), "an agent needs a name",
                 "give the agent a unique name, such as name: Alpha")
        return value

    @field_validator("variables", mode="before")
    @classmethod
    def _no_overrides_when_null(cls, value: Any) -> Any:
        return _none_as_empty(value, dict)

    @model_validator(mode="after")
    def _one_player(self) -> AgentConfig:
        _require(self.llm is None or self.response_template is None,
                 "has both llm and response_template",
                 "keep llm to have a model play this agent, or response_template "
                 "for a fixed answer, not both")
        return self


DangerSeverity = Literal["low", "medium", "high", "critical"]


class DangerRule(_Strict):
    """A condition on variables that raises a danger signal (see :mod:`apart.danger`).

    ``when`` is checked against the declared variables by the loader. With
    ``trigger: crossing`` (the default) the rule fires when its condition
    becomes true (it was false on the previous step's values, or it is step
    0); with ``always`` it fires on every step it holds.
    """

    name: str
    when: str
    category: str = "custom"
    severity: DangerSeverity = "medium"
    trigger: Literal["crossing", "always"] = "crossing"
    description: str = ""

    @field_validator("name", "when", "category")
    @classmethod
    def _not_blank(cls, value: str, info: ValidationInfo) -> str:
        examples = {"name": "name: tension_critical", "when": "when: \"tension >= 90\"",
                    "category": "category: escalation"}
        _require(bool(value.strip()), f"the rule's {info.field_name} is empty",
                 f"write one, such as {examples[str(info.field_name)]}")
        return value


class JudgeConfig(LLMConfig):
    """The LLM that scores agent answers; scores of ``threshold`` or more are signals."""

    threshold: float = 0.5

    @field_validator("threshold")
    @classmethod
    def _threshold_in_range(cls, value: float) -> float:
        _require(0 < value <= 1, f"must be above 0 and at most 1 (got {value})",
                 "give the lowest judge score (0 to 1) that counts as a signal, such as 0.5")
        return value


class PausePolicy(_Strict):
    """Pause the run (reason ``danger``) on a signal of ``min_severity`` or more."""

    min_severity: DangerSeverity = "high"


class DangerConfig(_Strict):
    """The ``danger:`` block: rules on variables, the answer detector, judge and policy."""

    rules: list[DangerRule] = Field(default_factory=list)
    detector: bool = True
    judge: JudgeConfig | None = None
    pause_on_danger: PausePolicy | None = None

    @field_validator("rules", mode="before")
    @classmethod
    def _no_rules_when_null(cls, value: Any) -> Any:
        return _none_as_empty(value, list)


class BudgetConfig(_Strict):
    """Spending limits: the run pauses (reason ``budget``) before it would go past them."""

    max_usd: float | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=0)


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
    danger: DangerConfig | None = None  # None: the detector only (see apart.danger)
    budget: BudgetConfig | None = None
    # accepted for compatibility with existing files (DESIGN §3)
    game_state: dict[str, Any] | None = None
    orchestrator_message: str | None = None
    enable_compute_resources: bool | None = None
    modules: list[Any] | None = None
    module_config: dict[str, Any] | None = None
    geography: Any = None

    @field_validator("engine", "global_vars", "agent_vars", mode="before")
    @classmethod
    def _empty_section_when_null(cls, value: Any) -> Any:
        return _none_as_empty(value, dict)

    @field_validator("agents", mode="before")
    @classmethod
    def _no_agents_when_null(cls, value: Any) -> Any:
        return _none_as_empty(value, list)

    @field_validator("max_steps")
    @classmethod
    def _steps_positive(cls, value: int) -> int:
        _require(value >= 1, f"must be at least 1 (got {value})",
                 "give the number of steps to play, such as 10")
        return value

    @field_validator("modules")
    @classmethod
    def _no_modules_yet(cls, value: list[Any] | None) -> list[Any] | None:
        _require(not value, "modules are not supported yet",
                 "remove the modules: list to run this scenario without them")
        return value

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

"""Request and response schemas of the REST API (DESIGN §6), for validation and OpenAPI.

The response objects themselves come from :mod:`apart.runs.views` (the CLI's
``--json`` prints the same ones); the models here describe them. Listings and
details are camelCase, the start/pause/resume/stop responses snake_case, as the
existing clients expect. Response models allow extra fields, so a field added
to a view reaches clients before its model is updated.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from apart.runs.lifecycle import RUN_ID_PATTERN
from apart.runs.status import RunStatus

#: the largest step number or count the database holds
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- requests --------------------------------------------------------------------------


class Budget(_Request):
    """Limits of a run's spending: it pauses (reason ``budget``) before going past them."""

    tokens: int | None = Field(None, ge=0, le=MAX_INT64, description="input + output tokens",
                               validation_alias=AliasChoices("tokens", "max_tokens"))
    usd: float | None = Field(None, ge=0, allow_inf_nan=False, description="cost in US dollars",
                              validation_alias=AliasChoices("usd", "max_usd"))


class ResumeBody(_Request):
    """Optional: raise the run's budget as it resumes."""

    budget: Budget | None = None


class ReplayCreate(_Request):
    """Replay a recorded run as a new run (no provider is called)."""

    run_id: str | None = Field(None, pattern=f"^{RUN_ID_PATTERN.pattern}$",
                               description="id of the new run (default: generated)")


class RunCreate(_Request):
    """Start a run: give the scenario as YAML text or as a file in the scenarios directory."""

    scenario: str | None = Field(None, description="the scenario, as YAML text")
    scenario_path: str | None = Field(
        None, max_length=1000,
        description="a scenario file, relative to the server's scenarios directory")
    scenario_name: str | None = Field(
        None, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
        description="a name for the scenario (default: its `name:`, or the file's stem)")
    run_id: str | None = Field(None, pattern=f"^{RUN_ID_PATTERN.pattern}$",
                               description="the run's id (default: generated)")
    priority: Literal["high", "normal", "low"] = "normal"
    seed: int | None = Field(None, ge=-MAX_INT64 - 1, le=MAX_INT64,
                             description="default: the scenario's, else random")
    save_frequency: int = Field(1, ge=1, le=MAX_INT32, description="save every N steps")
    max_steps: int | None = Field(None, ge=1, le=MAX_INT32,
                                  description="default: the scenario's max_steps")
    budget: Budget | None = None
    pause_at_step: int | None = Field(None, ge=0, le=MAX_INT32,
                                      description="pause once this step is saved")
    provider: str | None = Field(
        None, min_length=1, max_length=64,
        description="play every role with this provider, e.g. `scripted` for a dry run")

    @model_validator(mode="after")
    def _one_source(self) -> RunCreate:
        if (self.scenario is None) == (self.scenario_path is None):
            raise ValueError("give exactly one of scenario (YAML text) and scenario_path")
        return self


# -- responses -------------------------------------------------------------------------


class RunStarted(_Response):
    run_id: str
    status: RunStatus
    message: str


class PauseRequested(_Response):
    run_id: str
    status: Literal["pause_requested"]
    message: str
    run_status: RunStatus


class Resumed(_Response):
    run_id: str
    status: Literal["resumed"]
    resuming_from_step: int | None
    message: str
    run_status: RunStatus


class StopRequested(_Response):
    run_id: str
    status: Literal["stop_requested", "stopped"]
    message: str
    run_status: RunStatus


class Deleted(_Response):
    run_id: str
    status: Literal["deleted"]
    message: str


class RunSummary(_Response):
    runId: str
    scenario: str
    status: RunStatus
    currentStep: int | None
    totalSteps: int
    startedAt: str | None
    pausedAt: str | None
    completedAt: str | None
    createdAt: str | None = None
    dangerCount: int
    costUsd: float = 0.0
    priority: str
    pauseReason: str | None
    error: str | None


class RunList(_Response):
    runs: list[RunSummary]
    nextCursor: str | None = Field(description="pass as `cursor` for the next page")


class RunDetail(RunSummary):
    maxSteps: int
    seed: int
    saveFrequency: int
    providerOverride: str | None
    agentNames: list[str]
    dangerSignals: list[Any]
    usage: dict[str, Any]
    pauseRequest: str | None
    pauseAtStep: int | None
    stopRequested: bool
    resumable: bool
    updatedAt: str | None
    heartbeatAt: str | None
    globalVars: dict[str, Any] | None
    agentVars: dict[str, dict[str, Any]] | None


class StepView(_Response):
    step: int
    global_vars: dict[str, Any]
    agent_vars: dict[str, dict[str, Any]]
    messages: list[dict[str, Any]]
    events: list[dict[str, Any]]
    reasoning: str
    clamps: list[dict[str, Any]] = []


class StepList(_Response):
    runId: str
    steps: list[StepView]


class Liveness(_Response):
    status: Literal["ok"]


class Component(_Response):
    status: Literal["ok", "unavailable"]
    detail: str | None = None


class Health(_Response):
    status: Literal["ok", "degraded"]
    database: Component
    redis: Component
    workers: Component
    queues: Component
    streams: dict[str, int]


# -- errors ----------------------------------------------------------------------------


class Issue(BaseModel):
    path: str = Field(description="YAML path of the problem, e.g. agents[2].variables.trust")
    problem: str
    fix: str


class FieldError(BaseModel):
    loc: list[str]
    msg: str
    type: str


class ErrorBody(_Response):
    """Every error: a sentence for people, a code for programs."""

    detail: str
    code: str
    issues: list[Issue] | None = Field(None, description="scenario problems (422)")
    errors: list[FieldError] | None = Field(None, description="invalid fields (422)")
    status: RunStatus | None = Field(None, description="the run's status (409)")

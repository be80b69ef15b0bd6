"""What users ask of runs: submit, pause, resume, stop, delete (DESIGN §5).

Each function takes the store explicitly, checks the request against the run's
status, and makes one atomic, conditional transition. The CLI and the API call
these and only translate their errors.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apart.errors import InvalidRequest, InvalidTransition
from apart.runs import events as ev
from apart.runs.budget import Budget
from apart.runs.liveness import owner_alive
from apart.runs.records import NewRun, RunRecord, RunStore
from apart.runs.status import ACTIVE, RESUMABLE, TERMINAL, PauseReason, RunStatus

if TYPE_CHECKING:  # the scenario and simulation modules load lazily: `apart show` stays fast
    from apart.llm.base import Provider
    from apart.scenario.schema import LLMConfig, Scenario

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
PRIORITIES = ("high", "normal", "low")
S = RunStatus


@dataclass(frozen=True)
class Submission:
    """A request to start a run (CLI flags or the API body)."""

    scenario_text: str
    source: str = "<scenario>"
    scenario_name: str | None = None
    run_id: str | None = None
    seed: int | None = None
    max_steps: int | None = None
    save_frequency: int = 1
    priority: str = "normal"
    provider_override: str | None = None
    pause_at_step: int | None = None
    #: ``{max_usd, max_tokens}``: the run pauses (reason ``budget``) before exceeding it
    budget: dict[str, Any] | None = None


def new_run_id(scenario_name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", scenario_name).strip("-._")[:40] or "run"
    return f"{stem}-{random.SystemRandom().randrange(16**6):06x}"


def check_submission(sub: Submission) -> None:
    if sub.run_id is not None and not RUN_ID_PATTERN.fullmatch(sub.run_id):
        raise InvalidRequest(
            f"run id '{sub.run_id}' is not allowed: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    if sub.priority not in PRIORITIES:
        raise InvalidRequest(f"priority '{sub.priority}' is not one of {', '.join(PRIORITIES)}")
    if sub.save_frequency < 1:
        raise InvalidRequest("save frequency must be at least 1 (save every N steps)")
    if sub.max_steps is not None and sub.max_steps < 1:
        raise InvalidRequest("max steps must be at least 1")
    if sub.pause_at_step is not None and sub.pause_at_step < 0:
        raise InvalidRequest("pause-at-step must be 0 or more")


def submit_run(
    store: RunStore,
    sub: Submission,
    resolve: Callable[[LLMConfig], Provider],
) -> RunRecord:
    """Validate everything, then create the run (status ``pending``).

    The scenario is loaded and every provider resolved first, so a bad
    scenario or a missing provider is reported before any run exists.
    """
    from apart.scenario.loader import load_scenario_text
    from apart.sim.engine import build_roles

    check_submission(sub)
    scenario = load_scenario_text(sub.scenario_text, sub.source)
    build_roles(scenario, resolve)
    name = sub.scenario_name or scenario.name or "scenario"
    seed = sub.seed if sub.seed is not None else scenario.seed
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    new = NewRun(
        id=sub.run_id or new_run_id(name),
        scenario_name=name,
        scenario_text=sub.scenario_text,
        seed=seed,
        max_steps=sub.max_steps or scenario.max_steps,
        agent_names=scenario.agent_names,
        save_frequency=sub.save_frequency,
        priority=sub.priority,
        provider_override=sub.provider_override,
        pause_at_step=sub.pause_at_step,
        options=_budget_options(sub.budget, scenario),
    )
    return store.create_run(new)


def _budget_options(requested: dict[str, Any] | None, scenario: Scenario) -> dict[str, Any]:
    """The run's budget: the one asked for at submission, else the scenario's."""
    scenario_budget = getattr(scenario, "budget", None)
    merged = scenario_budget.model_dump(exclude_none=True) if scenario_budget else {}
    merged.update({k: v for k, v in (requested or {}).items() if v is not None})
    budget = Budget.from_data(merged)
    return {"budget": budget.to_data()} if budget else {}


def submit_replay(store: RunStore, source_id: str, run_id: str | None = None) -> RunRecord:
    """A new run that plays ``source_id``'s recorded calls back: no provider is called,
    and the trajectory is the source's."""
    source = store.get_run(source_id)
    if source.current_step is None or not store.llm_calls(source_id):
        raise InvalidRequest(f"run '{source_id}' has no saved steps with recorded LLM calls "
                             "to replay")
    if run_id is not None and not RUN_ID_PATTERN.fullmatch(run_id):
        check_submission(Submission(scenario_text="", run_id=run_id))
    new = NewRun(
        id=run_id or new_run_id(f"{source_id}-replay"),
        scenario_name=source.scenario_name,
        scenario_text=source.scenario_text,
        seed=source.seed,
        # the same step count (it is in the prompts), pausing where the recording ends
        max_steps=source.max_steps,
        pause_at_step=None if source.current_step >= source.max_steps else source.current_step,
        agent_names=list(source.agent_names),
        save_frequency=source.save_frequency,
        priority=source.priority,
        options={"replay_of": source_id},
    )
    return store.create_run(new)


def run_scenario(run: RunRecord) -> Scenario:
    """The scenario of a run, with the run's own step count."""
    from apart.scenario.loader import load_scenario_text

    scenario = load_scenario_text(run.scenario_text, run.scenario_name)
    return scenario.model_copy(update={"max_steps": run.max_steps})


def reap_if_dead(store: RunStore, run: RunRecord, heartbeat_timeout: float) -> RunRecord:
    """An active run whose process is gone becomes ``interrupted`` (with an event)."""
    if run.status not in ACTIVE or owner_alive(run.owner, run.heartbeat_at, heartbeat_timeout):
        return run
    try:
        return store.transition(
            run.id, S.INTERRUPTED, expected=ACTIVE, action="interrupt",
            events=[ev.event("simulation_interrupted", run.current_step,
                             reason="the process running it stopped without pausing",
                             owner=run.owner)],
            owner=None,
        )
    except InvalidTransition:
        return store.get_run(run.id)


def load_live(store: RunStore, run_id: str, heartbeat_timeout: float) -> RunRecord:
    return reap_if_dead(store, store.get_run(run_id), heartbeat_timeout)


def request_pause(
    store: RunStore,
    run_id: str,
    *,
    force: bool = False,
    at_step: int | None = None,
    heartbeat_timeout: float = 15.0,
) -> RunRecord:
    """Ask a run to pause: now (force), at the end of this step, or after ``at_step``."""
    run = load_live(store, run_id, heartbeat_timeout)
    reason = PauseReason.USER_FORCE if force else PauseReason.USER
    requested = ev.event("pause_requested", run.current_step, force=force, at_step=at_step)
    if run.status == S.PENDING and at_step is None:
        return store.transition(
            run_id, S.PAUSED, expected=[S.PENDING], action="pause", pause_reason=reason,
            events=[requested, ev.event("simulation_paused", run.current_step, reason=reason)],
        )
    if run.status in (S.PENDING, S.RUNNING) and at_step is not None:
        done = -1 if run.current_step is None else run.current_step
        if at_step <= done:
            raise InvalidRequest(
                f"run '{run_id}' has already finished step {done}; choose a later step "
                f"(at most {run.max_steps})"
            )
        return store.update_run(run_id, expected=[S.PENDING, S.RUNNING], action="pause",
                                pause_at_step=at_step, events=[requested])
    if run.status == S.RUNNING:
        return store.transition(
            run_id, S.PAUSING, expected=[S.RUNNING], action="pause",
            pause_request="force" if force else "graceful", events=[requested],
        )
    if run.status == S.PAUSING:
        if at_step is not None:
            raise InvalidRequest(
                f"run '{run_id}' is already pausing at the end of step "
                f"{(run.current_step or -1) + 1}; resume it first to pause later instead"
            )
        if force and run.pause_request != "force":
            return store.update_run(run_id, expected=[S.PAUSING], action="pause",
                                    pause_request="force", events=[requested])
        return run
    hint = _pause_hint(run.status)
    raise InvalidTransition(run_id, run.status, "pause", hint)


def _pause_hint(status: RunStatus) -> str:
    if status == S.PAUSED:
        return "it is already paused; resume it with `apart resume`"
    if status == S.INTERRUPTED:
        return "its process died; continue it with `apart resume`"
    if status in TERMINAL:
        return "it has ended"
    return ""


def request_resume(
    store: RunStore,
    run_id: str,
    *,
    heartbeat_timeout: float = 15.0,
    budget_usd: float | None = None,
    budget_tokens: int | None = None,
) -> RunRecord:
    """Make a run resumable: ``pending`` again, or cancel a pause not yet taken.

    ``budget_usd``/``budget_tokens`` raise (or set) the run's budget as it resumes."""
    run = load_live(store, run_id, heartbeat_timeout)
    fields: dict[str, Any] = {}
    if budget_usd is not None or budget_tokens is not None:
        current = Budget.from_data(run.options.get("budget")) or Budget()
        raised = current.raised(budget_usd, budget_tokens)
        Budget.from_data(raised.to_data())  # refuses negative limits
        fields["options"] = {**run.options, "budget": raised.to_data()}
    if run.status == S.PAUSING:
        return store.transition(
            run_id, S.RUNNING, expected=[S.PAUSING], action="resume", pause_request=None,
            **fields,
            events=[ev.event("simulation_resumed", run.current_step, cancelled_pause=True)],
        )
    if run.status in RESUMABLE:
        return store.transition(
            run_id, S.PENDING, expected=RESUMABLE, action="resume", recoveries=0, **fields,
            events=[ev.event("simulation_resumed", run.current_step,
                             from_step=run.current_step, previous_status=run.status)],
        )
    hints = {
        S.RUNNING: "it is already running; pause it first if you want to change it",
        S.PENDING: "it is already waiting to run",
        S.COMPLETED: "it has finished; nothing is left to run",
        S.STOPPED: "it was stopped and cannot continue",
    }
    raise InvalidTransition(run_id, run.status, "resume", hints.get(run.status, ""))


def request_stop(store: RunStore, run_id: str, *, heartbeat_timeout: float = 15.0) -> RunRecord:
    """Stop a run for good. An executing run stops promptly, discarding the partial step."""
    run = load_live(store, run_id, heartbeat_timeout)
    if run.status in ACTIVE:
        return store.update_run(run_id, expected=ACTIVE, action="stop", stop_requested=True)
    if run.status in TERMINAL:
        raise InvalidTransition(run_id, run.status, "stop", "it has already ended")
    return store.transition(
        run_id, S.STOPPED, expected=[S.PENDING, *RESUMABLE], action="stop",
        events=[ev.event("simulation_stopped", run.current_step, by="user")],
    )


def delete_run(store: RunStore, run_id: str, *, heartbeat_timeout: float = 15.0) -> None:
    run = load_live(store, run_id, heartbeat_timeout)
    if run.status in ACTIVE:
        raise InvalidTransition(run_id, run.status, "delete", "pause or stop it first")
    store.delete_run(run_id)


def get_run(store: RunStore, run_id: str, *, heartbeat_timeout: float = 15.0) -> RunRecord:
    """The run as it truly is: an active run whose process died shows as interrupted."""
    return load_live(store, run_id, heartbeat_timeout)

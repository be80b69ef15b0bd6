"""``/api/v1/runs``: submit, list, show, pause, resume, stop, delete, steps (DESIGN §6).

Each route parses its request, calls one function of :mod:`apart.runs.lifecycle`
(or the store, for reads), and returns a view of :mod:`apart.runs.views`; core
errors become HTTP errors in :mod:`apart.api.errors`. The routes are plain
``def``: FastAPI runs them in its thread pool, so the synchronous store never
blocks the event loop. Control requests are stored on the run first, then
published on Redis (:func:`apart.bus.publish_control`) so a worker acts at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query
from redis.exceptions import RedisError

from apart.api.auth import require_token
from apart.api.context import ApiContext, Ctx
from apart.api.errors import ApiError
from apart.api.models import (
    MAX_INT32,
    Deleted,
    ErrorBody,
    PauseRequested,
    ReplayCreate,
    ResumeBody,
    Resumed,
    RunCreate,
    RunDetail,
    RunList,
    RunStarted,
    StepList,
    StopRequested,
)
from apart.api.scenario_files import read_scenario_file
from apart.bus import publish_control
from apart.config import Settings, process_environment
from apart.errors import RunNotFound
from apart.llm.base import Provider
from apart.runs import lifecycle, views
from apart.runs.records import RunRecord
from apart.runs.status import ACTIVE, RunStatus
from apart.scenario.schema import LLMConfig
from apart.worker.queue import enqueue_run


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


router = APIRouter(
    prefix="/api/v1",
    tags=["runs"],
    dependencies=[Depends(require_token)],
    responses=_errors(401, 422, 500, 503),
)


async def _known_id(run_id: Annotated[str, Path(description="the run's id")]) -> str:
    """A run id that cannot exist (wrong characters) is simply not found."""
    if not lifecycle.RUN_ID_PATTERN.fullmatch(run_id):
        raise RunNotFound(run_id)
    return run_id


RunId = Annotated[str, Depends(_known_id)]


# -- submit ----------------------------------------------------------------------------


@router.post("/runs", status_code=201, response_model=RunStarted,
             responses=_errors(400, 409, 413))
def create_run(body: RunCreate, ctx: Ctx) -> dict[str, Any]:
    """Validate the scenario, create the run (``pending``) and queue it.

    400: a provider is not available (use `provider: scripted`); 409: the id is
    taken; 422: the scenario is invalid (``issues`` lists each YAML path) or the
    ``scenario_path`` is not a file in the scenarios directory; 503: the queue
    (Redis) is unreachable, and then no run was created."""
    sub = _submission(body, ctx.settings)
    record = lifecycle.submit_run(ctx.store, sub, _resolver(ctx.settings, body.provider))
    try:
        enqueue_run(ctx.redis_sync, record.id, record.priority)
    except (RedisError, OSError) as exc:
        ctx.store.delete_run(record.id)
        raise ApiError(503, "queue_unavailable",
                       f"run '{record.id}' was not started: the queue at "
                       f"{_safe_url(ctx.settings.redis_url)} is unreachable ({exc}); "
                       "nothing was created, try again once Redis is back") from exc
    steps = f"{record.max_steps} step{'s' if record.max_steps != 1 else ''}"
    return views.started(record, f"run {record.id} queued ({record.priority} priority): "
                                 f"{record.scenario_name}, {steps}, seed {record.seed}")


def _submission(body: RunCreate, settings: Settings) -> lifecycle.Submission:
    name: str | None = body.scenario_name
    if body.scenario_path is not None:
        text = read_scenario_file(settings.scenarios_dir, body.scenario_path)
        source = body.scenario_path
        name = name or _stem(body.scenario_path)
    else:
        text, source = body.scenario or "", "the submitted scenario"
    return lifecycle.Submission(
        scenario_text=text, source=source, scenario_name=name, run_id=body.run_id,
        seed=body.seed, max_steps=body.max_steps, save_frequency=body.save_frequency,
        priority=body.priority, provider_override=body.provider,
        pause_at_step=body.pause_at_step,
        budget=body.budget.model_dump(exclude_none=True) if body.budget else None,
    )


def _stem(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _resolver(settings: Settings, override: str | None) -> Callable[[LLMConfig], Provider]:
    from apart.llm.registry import resolve_provider

    def resolve(config: LLMConfig) -> Provider:
        return resolve_provider(config, default_latency_ms=settings.scripted_latency_ms,
                                override=override, environ=process_environment())

    return resolve


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"


# -- read ------------------------------------------------------------------------------


@router.get("/runs", response_model=RunList)
def list_runs(
    ctx: Ctx,
    status: Annotated[RunStatus | None, Query(description="only runs in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=500,
                                        description="nextCursor of the previous page")] = None,
) -> dict[str, Any]:
    """Runs, newest first, a page at a time."""
    runs, next_cursor = ctx.store.list_runs(
        status=status.value if status else None, limit=limit, cursor=cursor)
    timeout = ctx.settings.heartbeat_timeout
    return views.run_list([lifecycle.reap_if_dead(ctx.store, r, timeout) for r in runs],
                          next_cursor)


@router.get("/runs/{run_id}", response_model=RunDetail, responses=_errors(404))
def get_run(run_id: RunId, ctx: Ctx) -> dict[str, Any]:
    """A run: status, progress, latest variables, danger signals, usage."""
    record = lifecycle.get_run(ctx.store, run_id, heartbeat_timeout=ctx.settings.heartbeat_timeout)
    return views.run_detail(record, ctx.store.latest_checkpoint(run_id))


@router.get("/runs/{run_id}/steps", response_model=StepList, responses=_errors(404))
def get_steps(
    run_id: RunId,
    ctx: Ctx,
    from_step: Annotated[int | None, Query(alias="from", ge=0, le=MAX_INT32)] = None,
    to_step: Annotated[int | None, Query(alias="to", ge=0, le=MAX_INT32)] = None,
) -> dict[str, Any]:
    """The saved steps (variables, messages, events, reasoning, clamps), oldest first."""
    ctx.store.get_run(run_id)
    return views.step_list(run_id, ctx.store.checkpoints(run_id, from_step, to_step))


# -- control ---------------------------------------------------------------------------


@router.post("/runs/{run_id}/pause", response_model=PauseRequested, responses=_errors(404, 409))
def pause_run(
    run_id: RunId,
    ctx: Ctx,
    force: Annotated[bool, Query(description="cancel the calls in flight and pause now")]
    = False,
    at_step: Annotated[int | None, Query(ge=0, le=MAX_INT32,
                                         description="pause once this step is saved")] = None,
) -> dict[str, Any]:
    """Pause at the end of the step in progress, now (``force``), or after ``at_step``.

    409 when the run cannot be paused; the detail names its status."""
    record = lifecycle.request_pause(ctx.store, run_id, force=force, at_step=at_step,
                                     heartbeat_timeout=ctx.settings.heartbeat_timeout)
    publish_control(ctx.redis_sync, run_id, "force_pause" if force else "pause")
    return views.pause_requested(record, views.pause_message(record, force, at_step))


@router.post("/runs/{run_id}/resume", response_model=Resumed,
             responses=_errors(400, 404, 409))
def resume_run(run_id: RunId, ctx: Ctx, body: ResumeBody | None = None) -> dict[str, Any]:
    """Continue a paused, interrupted or failed run from its last saved step (queued
    again), or cancel a pause the run has not taken yet. ``budget`` raises the run's
    budget (a run paused with reason ``budget`` needs it to go on).

    409 when the run is not resumable; the detail names its status."""
    budget = body.budget if body is not None and body.budget is not None else None
    record = lifecycle.request_resume(ctx.store, run_id,
                                      heartbeat_timeout=ctx.settings.heartbeat_timeout,
                                      budget_usd=budget.usd if budget else None,
                                      budget_tokens=budget.tokens if budget else None)
    if record.status == RunStatus.PENDING:
        message = _queue_resumed(ctx, record)
    else:  # a pause not yet taken was cancelled: the run goes on running
        publish_control(ctx.redis_sync, run_id, "resume")
        message = f"run {run_id} was still running; its pending pause is cancelled"
    return views.resumed(record, message)


def _queue_resumed(ctx: ApiContext, record: RunRecord) -> str:
    step = "the start" if record.current_step is None else f"step {record.current_step}"
    try:
        enqueue_run(ctx.redis_sync, record.id, record.priority)
    except (RedisError, OSError) as exc:
        return (f"run {record.id} resumes from {step}, but the queue is unreachable now "
                f"({exc}); it stays pending and the workers queue it again once Redis is back")
    return f"run {record.id} resumes from {step} (queued, {record.priority} priority)"


@router.post("/runs/{run_id}/replay", status_code=201, response_model=RunStarted,
             responses=_errors(400, 404, 409))
def replay_run(run_id: RunId, ctx: Ctx, body: ReplayCreate | None = None) -> dict[str, Any]:
    """A new run that plays this run's recorded calls back (no provider call, zero
    cost) and reproduces its trajectory; queued like any run."""
    record = lifecycle.submit_replay(ctx.store, run_id, body.run_id if body else None)
    try:
        enqueue_run(ctx.redis_sync, record.id, record.priority)
    except (RedisError, OSError) as exc:
        ctx.store.delete_run(record.id)
        raise ApiError(503, "queue_unavailable",
                       f"the replay of '{run_id}' was not started: the queue is unreachable "
                       f"({exc}); nothing was created, try again once Redis is back") from exc
    return views.started(record, f"run {record.id} replays run {run_id} "
                                 f"({record.max_steps} steps, no provider is called)")


@router.post("/runs/{run_id}/stop", response_model=StopRequested, responses=_errors(404, 409))
def stop_run(run_id: RunId, ctx: Ctx) -> dict[str, Any]:
    """Stop a run for good; its saved steps are kept. An executing run stops promptly."""
    record = lifecycle.request_stop(ctx.store, run_id,
                                    heartbeat_timeout=ctx.settings.heartbeat_timeout)
    if record.status in ACTIVE:
        publish_control(ctx.redis_sync, run_id, "stop")
        message = f"run {run_id} is stopping"
    else:
        message = f"run {run_id} is stopped"
    return views.stop_requested(record, message)


@router.delete("/runs/{run_id}", response_model=Deleted, responses=_errors(404, 409))
def delete_run(run_id: RunId, ctx: Ctx) -> dict[str, Any]:
    """Delete a run and everything saved for it. 409 while it runs: pause or stop it first."""
    lifecycle.delete_run(ctx.store, run_id, heartbeat_timeout=ctx.settings.heartbeat_timeout)
    return views.deleted(run_id, f"run {run_id} is deleted")

"""The RQ job: advance one run from its last checkpoint until it pauses, completes,
fails or stops (DESIGN §9).

A job carries only the run id. It claims the run (``pending`` → ``running``,
a new epoch); if the claim fails — another worker has the run, or it was paused
or stopped meanwhile — the job ends quietly, so a duplicate job is harmless.
While the run executes, pause and stop requests published on Redis wake the
executor at once (:mod:`apart.worker.control`). When the worker shuts down
(SIGTERM), the run is given back: its completed steps are kept, it goes back to
``pending`` and a new job is queued for it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apart.config import Settings, process_environment
from apart.errors import InvalidTransition, LeaseLost, RunNotFound
from apart.llm.pricing import Pricing
from apart.runs import lifecycle
from apart.runs.executor import ExecutorOptions, RunExecutor
from apart.runs.liveness import this_process_owner
from apart.runs.records import RunRecord, RunStore
from apart.runs.status import RunStatus
from apart.worker.context import current_context
from apart.worker.control import ControlListener
from apart.worker.queue import enqueue_run
from apart.worker.resources import open_resources
from apart.worker.slot import RunSlot

if TYPE_CHECKING:
    from apart.llm.base import Provider
    from apart.scenario.schema import LLMConfig

log = logging.getLogger(__name__)
S = RunStatus


@dataclass(frozen=True)
class Advanced:
    """What one job did to its run."""

    run_id: str
    #: the run as the job left it (None if it no longer exists)
    run: RunRecord | None
    #: this job claimed the run and executed it
    executed: bool
    #: the worker shut down: the run was given back and queued again
    handed_back: bool = False
    #: why the job did not execute the run
    note: str = ""

    def summary(self) -> str:
        status = self.run.status.value if self.run is not None else "deleted"
        if self.handed_back:
            return f"run {self.run_id}: {status}, handed back to the queue (worker shut down)"
        if not self.executed:
            return f"run {self.run_id}: skipped, {self.note or 'it is ' + status}"
        return f"run {self.run_id}: {status}"


def advance_run(run_id: str) -> str:
    """The RQ job (``apart.worker.jobs.advance_run``); returns a one-line summary.

    In an ``apart worker`` it uses the worker's store and Redis; under a plain
    ``rq worker`` it opens its own from the environment (APART_*)."""
    context = current_context()
    owner = this_process_owner()
    if context is not None:
        res = context.resources
        result = advance(run_id, res.store, res.redis, res.settings, owner, slot=context.slot)
    else:
        resources = open_resources(Settings.load())
        try:
            result = advance(run_id, resources.store, resources.redis, resources.settings, owner)
        finally:
            resources.close()
    summary = result.summary()
    log.info("%s", summary)
    return summary


def advance(
    run_id: str,
    store: RunStore,
    redis: Any,
    settings: Settings,
    owner: str,
    *,
    slot: RunSlot | None = None,
) -> Advanced:
    """Claim the run and play it on an asyncio loop; see the module docstring.

    ``owner`` must be :func:`~apart.runs.liveness.this_process_owner` (or a
    string of that form): liveness checks parse it. ``slot`` lets a shutdown
    give the run back."""
    try:
        run = store.get_run(run_id)
    except RunNotFound:
        return Advanced(run_id, None, executed=False, note="it no longer exists")
    if run.status != S.PENDING:
        return Advanced(run_id, run, executed=False, note=f"it is {run.status.value}")
    if slot is not None and slot.releasing:  # shutting down before it started: leave it queued
        _enqueue(redis, run)
        return Advanced(run_id, run, executed=False, handed_back=True)
    options = ExecutorOptions(heartbeat_interval=settings.heartbeat_interval,
                              poll_interval=settings.control_poll_interval)
    executor = RunExecutor(store, run_id, _resolver(settings), options=options,
                           pricing=Pricing.load(settings.prices_file))
    try:
        final = asyncio.run(_execute(executor, owner, redis, slot))
    except InvalidTransition as exc:  # claimed elsewhere, or paused or stopped meanwhile
        log.info("run %s: not claimed (%s)", run_id, exc)
        return Advanced(run_id, store.get_run(run_id), executed=False,
                        note=f"it is {exc.status} (claimed elsewhere or changed meanwhile)")
    except LeaseLost:
        log.warning("run %s: lease lost while ending; another worker owns it now", run_id)
        return Advanced(run_id, store.get_run(run_id), executed=True)
    if slot is not None and slot.releasing and final.status == S.INTERRUPTED:
        handed = _hand_back(store, redis, settings, run_id)
        return Advanced(run_id, handed or store.get_run(run_id), executed=True,
                        handed_back=handed is not None)
    return Advanced(run_id, final, executed=True)


async def _execute(
    executor: RunExecutor, owner: str, redis: Any, slot: RunSlot | None
) -> RunRecord:
    loop = asyncio.get_running_loop()

    def wake(_action: str) -> None:
        loop.call_soon_threadsafe(executor.wake)

    listener = ControlListener(redis, executor.run_id, wake).start()
    if slot is not None:
        slot.occupy(loop, executor)
    try:
        return await executor.execute(owner)
    finally:
        if slot is not None:
            slot.vacate()
        listener.stop()


def _hand_back(store: RunStore, redis: Any, settings: Settings, run_id: str) -> RunRecord | None:
    """The released run goes back to ``pending`` with a new job; None if someone else
    (a reaper, a user) took it over first."""
    try:
        run = lifecycle.request_resume(store, run_id, heartbeat_timeout=settings.heartbeat_timeout)
    except InvalidTransition as exc:
        log.info("run %s: not handed back: %s", run_id, exc)
        return None
    _enqueue(redis, run)
    return run


def _enqueue(redis: Any, run: RunRecord) -> None:
    try:
        enqueue_run(redis, run.id, run.priority)
    except Exception as exc:  # Redis down: the recovery sweep queues pending runs again
        log.warning("run %s: could not queue it again (%s); the recovery sweep will", run.id, exc)


def _resolver(settings: Settings) -> Any:
    context = current_context()
    pool = context.resources.pool if context is not None else None

    def resolve(config: LLMConfig, override: str | None) -> Provider:
        from apart.llm.registry import resolve_provider

        return resolve_provider(
            config, default_latency_ms=settings.scripted_latency_ms, override=override,
            pool=pool, environ=process_environment(),
        )

    return resolve

"""Advance one run from its last checkpoint until it pauses, completes, fails or stops.

The executor owns a run for the length of one claim (its epoch). It plays steps
with a :class:`~apart.sim.engine.Simulation`, saves each step with its events in
one fenced transaction, heartbeats, and watches the run record for pause and
stop requests: a graceful pause lands at the end of the step in progress, a
force pause or a stop cancels the in-flight LLM calls and discards the partial
step. Every decision is read from, and written to, the run record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apart.danger import DangerMonitor, DangerSignal
from apart.errors import (
    ApartError,
    InvalidTransition,
    LeaseLost,
    ProviderError,
    SimulatorContractError,
)
from apart.llm.base import Provider
from apart.llm.pricing import FREE_PROVIDERS, Pricing
from apart.llm.recorded import Recording, Reusing
from apart.runs import events as ev
from apart.runs.budget import Budget
from apart.runs.lifecycle import run_scenario
from apart.runs.records import LLMCallRecord, NewEvent, RunRecord, RunStore
from apart.runs.status import ACTIVE, PauseReason, RunStatus
from apart.scenario.schema import LLMConfig
from apart.sim.engine import CallRecord, LiveEvent, Simulation, StepOutcome, build_roles
from apart.sim.state import RECENT_SIGNALS, Checkpoint, WorldState

log = logging.getLogger(__name__)
S = RunStatus

Resolver = Callable[[LLMConfig, str | None], Provider]


@dataclass(frozen=True)
class ExecutorOptions:
    heartbeat_interval: float = 2.0
    poll_interval: float = 0.1


class _Interrupted(Exception):
    """The step in progress was abandoned: ``kind`` is force, stop or lost."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class _Progress:
    """What this claim has done that is not yet durable."""

    state: WorldState | None = None
    unsaved: StepOutcome | None = None
    events: list[NewEvent] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    call_events: list[NewEvent] = field(default_factory=list)

    def add_call(self, call: CallRecord, buffered: bool = True) -> None:
        if buffered and not call.reused:  # a reused call is already recorded
            self.calls.append(call)
        self.call_events.append(ev.event(
            "llm_call", call.step, role=call.role_name, attempt=call.attempt, model=call.model,
            input_tokens=call.input_tokens, output_tokens=call.output_tokens,
            cost_usd=call.cost_usd, latency_ms=round(call.latency_ms, 3), error=call.error,
            reused=call.reused,
        ))


class RunExecutor:
    def __init__(
        self,
        store: RunStore,
        run_id: str,
        resolve: Resolver,
        *,
        options: ExecutorOptions | None = None,
        on_event: Callable[[LiveEvent], None] | None = None,
        pricing: Pricing | None = None,
    ) -> None:
        self.store = store
        self.pricing = pricing or Pricing.shipped()
        self.run_id = run_id
        self.resolve = resolve
        self.options = options or ExecutorOptions()
        self.on_event = on_event or (lambda _e: None)
        self.epoch = 0
        self._interrupt: asyncio.Event | None = None
        self._interrupt_kind = ""
        self._wake: asyncio.Event | None = None
        self._progress = _Progress()
        self._providers: list[Provider] = []

    # -- public -----------------------------------------------------------------

    async def execute(
        self, owner: str, expected: tuple[RunStatus, ...] = (S.PENDING,)
    ) -> RunRecord:
        """Claim the run and play it. Raises InvalidTransition if it cannot be claimed."""
        before = self.store.get_run(self.run_id)
        first = before.started_at is None
        claim_events = [ev.event("simulation_started", None, seed=before.seed,
                                 max_steps=before.max_steps)] if first else []
        run = self.store.claim(self.run_id, owner, expected=expected, events=claim_events)
        self.epoch = run.epoch
        self._interrupt = asyncio.Event()
        self._wake = asyncio.Event()
        self.on_event(LiveEvent("status", run.current_step or 0, {"status": run.status}))
        watcher = asyncio.create_task(self._watch())
        try:
            return await self._play(run)
        except LeaseLost:
            log.warning("run %s: lease lost; stopping without writing", self.run_id)
            return self.store.get_run(self.run_id)
        except ApartError as exc:  # e.g. the scenario or a provider cannot be set up here
            return self._fail(exc.message)
        except Exception as exc:
            log.exception("run %s: unexpected error", self.run_id)
            return self._fail(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            self._flush_calls()
            await self._close_providers()

    async def _close_providers(self) -> None:
        """Close the HTTP clients the vendor SDKs opened for this claim."""
        for provider in self._providers:
            close = getattr(getattr(provider, "live", provider), "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # closing is best effort
                    log.debug("closing a provider failed", exc_info=True)

    def wake(self) -> None:
        """Look at the run record now (after a pause or stop was requested).

        Call it on the executor's event loop; from another thread use
        ``loop.call_soon_threadsafe(executor.wake)``."""
        if self._wake is not None:
            self._wake.set()

    def release(self) -> None:
        """Give the run up promptly (this process is shutting down): the partial
        step is discarded, completed steps are saved, and the run ends this claim
        ``interrupted`` so that it can be queued again. Same threading rule as wake."""
        if self._interrupt is not None:
            self._interrupt_kind = "release"
            self._interrupt.set()

    # -- the loop ---------------------------------------------------------------

    async def _play(self, run: RunRecord) -> RunRecord:
        scenario = run_scenario(run)
        latest = self.store.latest_checkpoint(run.id)
        self._progress.state = Checkpoint.from_data(latest.data).state if latest else None
        resolve = self._tracked(self._resolver_for(run, latest.step if latest else -1))
        roles = build_roles(scenario, resolve)
        sim = Simulation(scenario, run_id=run.id, seed=run.seed, roles=roles,
                         on_call=self._on_call, on_event=self.on_event,
                         pricing=self.pricing)
        monitor = _danger_monitor(scenario, resolve, sim)
        while True:
            state = self._progress.state
            if state is not None and state.step >= run.max_steps:
                return self._finish(S.COMPLETED, ev.event("simulation_completed", state.step))
            over = self._over_budget(run, state)
            if over is not None:
                return over
            next_step = 0 if state is None else state.step + 1
            self.on_event(LiveEvent("step_started", next_step))
            try:
                outcome, signals = await self._interruptible(
                    _step_and_assess(sim, monitor, state, run.id))
            except _Interrupted as stop:
                return self._abandon(stop.kind)
            except (SimulatorContractError, ProviderError) as exc:
                return self._fail_or_pause(exc)
            decision = self._record(run, _with_signals(outcome, signals), monitor, signals)
            if decision is not None:
                return decision

    def _tracked(self, resolve: Callable[[LLMConfig], Provider]
                 ) -> Callable[[LLMConfig], Provider]:
        def tracking(config: LLMConfig) -> Provider:
            provider = resolve(config)
            self._providers.append(provider)
            return provider

        return tracking

    def _over_budget(self, run: RunRecord, state: WorldState | None) -> RunRecord | None:
        """Pause (reason ``budget``) before a step that would go past the budget."""
        budget = Budget.from_data(run.options.get("budget"))
        if budget is None or state is None:
            return None
        why = budget.would_exceed(state.usage, state.step_usage)
        if why is None:
            return None
        exceeded = ev.event("budget_exceeded", state.step, reason=why, budget=budget.to_data())
        return self._pause(PauseReason.BUDGET, state.step, before=[exceeded],
                           error=f"budget reached: {why}; raise it with "
                                 f"`apart resume {run.id} {_budget_flag(why)} N`")

    def _resolver_for(self, run: RunRecord, saved_step: int) -> Callable[[LLMConfig], Provider]:
        """Live providers; a replay plays another run's calls back; a run taken up again
        after a discarded step reuses the calls that step already made (paid once)."""
        source = run.options.get("replay_of")
        if source:
            recording = Recording.of(self.store.llm_calls(source))
            return lambda cfg: Reusing(recording, None, "replay")

        def live(cfg: LLMConfig) -> Provider:
            return self.resolve(cfg, run.provider_override)
        if run.epoch <= 1:
            return live
        earlier = Recording.of(c for c in self.store.llm_calls(run.id) if c.step > saved_step)
        if not earlier:
            return live

        def reusing(cfg: LLMConfig) -> Provider:
            provider = live(cfg)
            return Reusing(earlier, provider, provider.name)

        return reusing

    async def _interruptible(self, step: Any) -> Any:
        assert self._interrupt is not None
        task: asyncio.Task[Any] = asyncio.ensure_future(step)
        stopper = asyncio.ensure_future(self._interrupt.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise _Interrupted(self._interrupt_kind)

    def _record(self, run: RunRecord, outcome: StepOutcome, monitor: DangerMonitor,
                signals: list[DangerSignal]) -> RunRecord | None:
        """Keep the step (saving it when due) and decide whether to go on."""
        progress = self._progress
        told = progress.state.pending_messages if progress.state else {}
        progress.events += ev.step_events(outcome.snapshot, outcome.answers, told,
                                          outcome.state.step_usage.model_dump())
        progress.events += [ev.event("danger_signal", outcome.state.step, signal=s.to_dict())
                            for s in signals]
        progress.events += progress.call_events
        progress.call_events = []
        progress.state = outcome.state
        progress.unsaved = outcome
        step = outcome.state.step
        self.on_event(LiveEvent("step_completed", step, {"snapshot": outcome.snapshot}))
        last = step >= run.max_steps
        danger = monitor.should_pause(signals)
        if last or danger or step == 0 or step % run.save_frequency == 0:
            control = self._save()  # the save returns the run record: no extra read
        else:
            control = self.store.get_run(run.id)
            if control.epoch != self.epoch or control.status not in ACTIVE:
                raise LeaseLost(run.id, self.epoch)
            if _wants_to_stop(control, step):
                control = self._save()
        if last:
            return self._finish(S.COMPLETED, ev.event("simulation_completed", step))
        if danger is not None:
            rule = f" (rule {danger.rule})" if danger.rule else ""
            return self._pause(PauseReason.DANGER, step,
                               error=f"danger: {danger.headline()}{rule}; look, then resume")
        return self._after_step(control, step)

    def _after_step(self, control: RunRecord, step: int) -> RunRecord | None:
        if control.stop_requested:
            return self._finish(S.STOPPED, ev.event("simulation_stopped", step, by="user"))
        if control.pause_request is not None:
            force = control.pause_request == "force"
            return self._pause(PauseReason.USER_FORCE if force else PauseReason.USER, step)
        if control.pause_at_step is not None and step >= control.pause_at_step:
            return self._pause(PauseReason.AT_STEP, step, pause_at_step=None)
        return None

    # -- endings ----------------------------------------------------------------

    def _save(self) -> RunRecord:
        progress = self._progress
        outcome = progress.unsaved
        assert outcome is not None
        calls, progress.calls = progress.calls, []
        record = self.store.save_step(
            self.run_id, self.epoch, outcome.state.step,
            Checkpoint(state=outcome.state, snapshot=outcome.snapshot).to_data(),
            events=progress.events,
            calls=[self._call_record(c) for c in calls],
            usage=outcome.state.usage.model_dump(),
            danger_count=outcome.state.danger_count,
        )
        progress.unsaved = None
        progress.events = []
        return record

    def _on_call(self, call: CallRecord) -> None:
        """A call that cost money is recorded at once, so that a crash later in the step
        cannot make the rerun pay for it again; free calls wait for the step's save."""
        paid = not call.reused and call.error is None and call.provider not in FREE_PROVIDERS
        if paid:
            self.store.record_llm_calls([self._call_record(call)])
        self._progress.add_call(call, buffered=not paid)

    def _flush_calls(self) -> None:
        """Record calls not saved with a step (those of a discarded or unsaved step)."""
        calls, self._progress.calls = self._progress.calls, []
        if calls:
            self.store.record_llm_calls([self._call_record(c) for c in calls])

    def _call_record(self, call: CallRecord) -> LLMCallRecord:
        fields = {k: v for k, v in call.__dict__.items() if k != "reused"}
        return LLMCallRecord(run_id=self.run_id, epoch=self.epoch, **fields)

    def _abandon(self, kind: str) -> RunRecord:
        """Force pause, stop or lost lease: the partial step is discarded."""
        if kind == "lost":
            raise LeaseLost(self.run_id, self.epoch)
        if self._progress.unsaved is not None:
            self._save()
        step = self._progress.state.step if self._progress.state else None
        if kind == "stop":
            return self._finish(S.STOPPED, ev.event("simulation_stopped", step, by="user"))
        if kind == "release":
            return self._finish(S.INTERRUPTED, ev.event(
                "simulation_interrupted", step, reason="the worker running it shut down"))
        return self._pause(PauseReason.USER_FORCE, step)

    def _pause(self, reason: PauseReason, step: int | None,
               before: Sequence[NewEvent] = (), **fields: Any) -> RunRecord:
        if self._progress.unsaved is not None:
            self._save()
        return self._finish(S.PAUSED, ev.event("simulation_paused", step, reason=reason),
                            before=before, pause_reason=reason, **fields)

    def _fail_or_pause(self, exc: SimulatorContractError | ProviderError) -> RunRecord:
        step = self._progress.state.step if self._progress.state else None
        if self._progress.unsaved is not None:
            self._save()
        if isinstance(exc, ProviderError) and exc.quota:
            return self._pause(PauseReason.QUOTA, step, error=exc.message)
        return self._fail(exc.message)

    def _fail(self, message: str) -> RunRecord:
        step = self._progress.state.step if self._progress.state else None
        return self._finish(S.FAILED, ev.event("simulation_failed", step, error=message),
                            error=message)

    def _finish(self, to: RunStatus, final: NewEvent, before: Sequence[NewEvent] = (),
                **fields: Any) -> RunRecord:
        if to in (S.COMPLETED, S.STOPPED, S.FAILED):
            fields.setdefault("completed_at", datetime.now(UTC))
        if to == S.PAUSED:
            fields.setdefault("paused_at", datetime.now(UTC))
        record = self.store.finish(self.run_id, self.epoch, to, events=[*before, final],
                                   pause_request=None, owner=None, **fields)
        self.on_event(LiveEvent("status", record.current_step or 0, {"status": record.status}))
        return record

    # -- watching the run record ------------------------------------------------

    async def _watch(self) -> None:
        """Heartbeat, and notice force pauses, stops and lost leases while a step runs."""
        assert self._wake is not None
        next_beat = 0.0
        while True:
            try:
                now = time.monotonic()
                if now >= next_beat:
                    record = self.store.heartbeat(self.run_id, self.epoch)
                    next_beat = now + self.options.heartbeat_interval
                else:
                    record = self.store.get_run(self.run_id)
                kind = _interrupt_kind(record, self.epoch)
            except LeaseLost:
                kind = "lost"
            except InvalidTransition:
                kind = ""
            except Exception:  # the store is briefly unavailable: try again
                log.exception("run %s: watching the run record failed", self.run_id)
                kind = ""
            if kind:
                self._interrupt_kind = kind
                assert self._interrupt is not None
                self._interrupt.set()
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.options.poll_interval)
            except TimeoutError:
                pass


def _danger_monitor(scenario: Any, resolve: Callable[[LLMConfig], Provider],
                    sim: Simulation) -> DangerMonitor:
    """The run's danger monitor; its judge's calls are recorded and priced like any."""
    judge_config = scenario.danger.judge if scenario.danger is not None else None
    if judge_config is None:
        return DangerMonitor.from_scenario(scenario)
    return DangerMonitor.from_scenario(
        scenario, judge_provider=_ThroughSimulation(resolve(judge_config), sim, judge_config))


class _ThroughSimulation:
    """A provider whose calls go through the simulation's recording and pricing."""

    def __init__(self, inner: Provider, sim: Simulation, config: LLMConfig) -> None:
        self.inner, self.sim, self.config = inner, sim, config
        self.name = inner.name

    async def complete(self, request: Any) -> Any:
        return await self.sim.call(self.inner, request, self.config)


async def _step_and_assess(sim: Simulation, monitor: DangerMonitor, state: WorldState | None,
                           run_id: str) -> tuple[StepOutcome, list[DangerSignal]]:
    """One step, then its danger signals: both cancellable together."""
    before = state if state is not None else sim.initial_state()
    outcome = await (sim.initialise() if state is None else sim.advance(state))
    return outcome, await monitor.assess_step(before, outcome, run_id=run_id)


def _with_signals(outcome: StepOutcome, signals: list[DangerSignal]) -> StepOutcome:
    if not signals:
        return outcome
    found = [s.to_dict() for s in signals]
    state = outcome.state.model_copy(update={
        "danger_signals": [*outcome.state.danger_signals, *found][-RECENT_SIGNALS:],
        "danger_count": outcome.state.danger_count + len(found),
    })
    snapshot = outcome.snapshot.model_copy(update={"danger_signals": found})
    return dataclasses.replace(outcome, state=state, snapshot=snapshot)


def _budget_flag(why: str) -> str:
    return "--budget-tokens" if "-token budget" in why else "--budget-usd"


def _wants_to_stop(control: RunRecord, step: int) -> bool:
    at_step = control.pause_at_step
    return (control.pause_request is not None or control.stop_requested
            or (at_step is not None and step >= at_step))


def _interrupt_kind(record: RunRecord, epoch: int) -> str:
    if record.epoch != epoch or record.status not in ACTIVE:
        return "lost"
    if record.stop_requested:
        return "stop"
    if record.pause_request == "force":
        return "force"
    return ""

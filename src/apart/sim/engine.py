"""The simulation: step 0 and steps 1..N as short sequences of named steps.

:class:`Simulation` is pure of storage: it turns a :class:`WorldState` into the
next one and reports what happened (a :class:`StepOutcome`). Persisting,
pausing and recovery belong to :mod:`apart.runs.executor`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apart.errors import ProviderError, SimulatorContractError
from apart.llm.base import CallContext, Completion, LLMRequest, Message, Provider, Role
from apart.llm.pricing import Pricing
from apart.scenario.schema import AgentConfig, LLMConfig, Scenario
from apart.sim import prompts
from apart.sim.contract import SimulatorTurn, extract_json, strip_thinking, validate_turn
from apart.sim.state import HistoryEntry, RoleUsage, StepSnapshot, Usage, WorldState
from apart.sim.world import Clamp, apply_turn, clamp_feedback

#: attempts for a failing agent call (timeouts, retryable provider errors)
AGENT_ATTEMPTS = 3


@dataclass(frozen=True)
class CallRecord:
    """One LLM call, as it will be stored (the store adds run id and epoch)."""

    step: int
    role_name: str
    attempt: int
    provider: str
    model: str
    prompt_hash: str
    response_text: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    cost_usd: float
    error: str | None = None
    #: answered from a recording (replay, or a rerun of a discarded step): not paid again
    reused: bool = False


@dataclass(frozen=True)
class LiveEvent:
    """Something that happened mid-step, for live displays (not stored as such)."""

    event_type: str
    step: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutcome:
    state: WorldState
    snapshot: StepSnapshot
    answers: dict[str, str]
    turn: SimulatorTurn


@dataclass(frozen=True)
class Roles:
    """The provider playing each role (built by the caller from the scenario)."""

    simulator: Provider
    agents: Mapping[str, Provider]


CallSink = Callable[[CallRecord], None]
EventSink = Callable[[LiveEvent], None]


def _ignore(_: Any) -> None:
    return None


class Simulation:
    """Plays one scenario. Deterministic given deterministic providers."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        run_id: str,
        seed: int,
        roles: Roles,
        on_call: CallSink = _ignore,
        on_event: EventSink = _ignore,
        pricing: Pricing | None = None,
    ) -> None:
        self.scenario = scenario
        self.pricing = pricing
        self.run_id = run_id
        self.seed = seed
        self.roles = roles
        self.on_call = on_call
        self.on_event = on_event

    # -- the two kinds of step -------------------------------------------------

    def initial_state(self) -> WorldState:
        return WorldState(
            step=-1,
            seed=self.seed,
            global_vars=self.scenario.initial_global_vars(),
            agent_vars=self.scenario.initial_agent_vars(),
            pending_messages={},
        )

    async def initialise(self) -> StepOutcome:
        """Step 0: the simulator sees the world and writes each agent's first message."""
        state = self.initial_state()
        turn, usage = await self._ask_simulator(state, 0, answers={}, usage=state.usage)
        return self._conclude(state, 0, {}, turn, usage)

    async def advance(self, state: WorldState) -> StepOutcome:
        """Step k: every agent answers (concurrently), then the simulator updates the world."""
        step = state.step + 1
        answers, usage = await self._gather_answers(state, step)
        turn, usage = await self._ask_simulator(state, step, answers=answers, usage=usage)
        return self._conclude(state, step, answers, turn, usage)

    # -- pieces ----------------------------------------------------------------

    async def _gather_answers(self, state: WorldState, step: int) -> tuple[dict[str, str], Usage]:
        names = self.scenario.agent_names
        for name in names:
            self.on_event(
                LiveEvent("agent_message_sent", step,
                          {"agent": name, "message": state.pending_messages.get(name, "")})
            )
        results = await asyncio.gather(
            *(self._answer(self.scenario.agent(n), state, step) for n in names)
        )
        usage = state.usage
        answers: dict[str, str] = {}
        for name, (text, completion) in zip(names, results, strict=True):
            answers[name] = text
            if completion is not None:
                usage = usage.plus(name, completion.input_tokens, completion.output_tokens,
                                   completion.cost_usd)
            self.on_event(LiveEvent("agent_response_received", step,
                                    {"agent": name, "response": text}))
        return answers, usage

    async def _answer(
        self, agent: AgentConfig, state: WorldState, step: int
    ) -> tuple[str, Completion | None]:
        message = state.pending_messages.get(agent.name, "")
        if agent.response_template is not None:
            return prompts.render_template(agent.response_template, agent.name, step, message), None
        assert agent.llm is not None, "the loader gives every non-template agent an llm"
        provider = self.roles.agents[agent.name]
        last_error: Exception | None = None
        attempts = 1 if getattr(provider, "retries_itself", False) else AGENT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            request = LLMRequest(
                system=prompts.agent_system_prompt(self.scenario, agent),
                messages=prompts.agent_messages(agent.name, state, message),
                context=self._context(step, "agent", agent.name, attempt),
                model=agent.llm.model,
                temperature=agent.llm.temperature,
                max_tokens=agent.llm.max_tokens,
                hints=prompts.agent_hints(agent, state, step, message),
            )
            try:
                completion = await self._call(provider, request, agent.llm)
                # reasoning models think aloud: the answer is what follows (the raw
                # text stays in the call record)
                return strip_thinking(completion.text).strip(), completion
            except ProviderError as exc:
                last_error = exc
                if not exc.retryable:
                    break
        raise ProviderError(
            f"agent '{agent.name}' could not answer at step {step}: {last_error}",
            provider=agent.llm.provider,
            quota=getattr(last_error, "quota", False),
        )

    async def _ask_simulator(
        self, state: WorldState, step: int, *, answers: dict[str, str], usage: Usage
    ) -> tuple[SimulatorTurn, Usage]:
        """Ask until the answer meets the contract, feeding each error back."""
        engine = self.scenario.engine
        provider = self.roles.simulator
        system = prompts.simulator_system_prompt(self.scenario)
        user = prompts.simulator_user_prompt(
            self.scenario, state, step, answers, clamp_feedback_from(state)
        )
        conversation: list[Message] = [Message("user", user)]
        feedback: str | None = None
        for attempt in range(1, engine.max_attempts + 1):
            request = LLMRequest(
                system=system,
                messages=tuple(conversation),
                context=self._context(step, "simulator", "simulator", attempt),
                model=engine.model,
                json_mode=True,
                temperature=engine.temperature,
                max_tokens=engine.max_tokens,
                hints=prompts.simulator_hints(self.scenario, state, step, answers, feedback),
            )
            completion = await self._call(provider, request, engine)
            usage = usage.plus("simulator", completion.input_tokens,
                               completion.output_tokens, completion.cost_usd)
            try:
                return validate_turn(extract_json(completion.text), self.scenario), usage
            except SimulatorContractError as exc:
                feedback = exc.message
                self.on_event(LiveEvent("simulator_retry", step,
                                        {"attempt": attempt, "error": feedback}))
                conversation += [
                    Message("assistant", completion.text),
                    Message("user", f"Your answer was not valid: {feedback}\n"
                                    "Reply again with one valid JSON object."),
                ]
        raise SimulatorContractError(
            f"the simulator gave no valid answer at step {step} after {engine.max_attempts} "
            f"attempts; last problem: {feedback}"
        )

    async def call(self, provider: Provider, request: LLMRequest, config: LLMConfig) -> Completion:
        """One recorded, priced, timed call for a role outside the step (the danger judge)."""
        return await self._call(provider, request, config)

    async def _call(self, provider: Provider, request: LLMRequest, config: LLMConfig) -> Completion:
        """One provider call with a timeout; every call (or failure) is reported."""
        started = time.perf_counter()
        ctx = request.context
        try:
            # a provider that retries itself needs room for its attempts
            deadline = max(config.timeout_s, getattr(provider, "deadline_s", 0) or 0)
            completion = await asyncio.wait_for(provider.complete(request), deadline)
        except TimeoutError as exc:
            self._report_failure(request, provider, started, f"timed out after {config.timeout_s}s")
            raise ProviderError(
                f"{provider.name} call for {ctx.role_name} timed out after {config.timeout_s}s",
                provider=provider.name, retryable=True,
            ) from exc
        except ProviderError as exc:
            self._report_failure(request, provider, started, exc.message)
            raise
        completion = self._priced(provider, request, completion)
        self.on_call(CallRecord(
            step=ctx.step, role_name=ctx.role_name, attempt=ctx.attempt,
            provider=provider.name, model=completion.model, prompt_hash=request.prompt_hash(),
            response_text=completion.text, input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens, latency_ms=completion.latency_ms,
            cost_usd=completion.cost_usd, reused=completion.reused,
        ))
        return completion

    def _priced(self, provider: Provider, request: LLMRequest, done: Completion) -> Completion:
        """The call's cost from the price table, unless the provider gave one."""
        if done.reused or done.cost_usd or self.pricing is None:
            return done
        cost = self.pricing.cost(provider.name, done.model or request.model, done.input_tokens,
                                 done.output_tokens)
        return dataclasses.replace(done, cost_usd=round(cost, 10)) if cost else done

    def _report_failure(
        self, request: LLMRequest, provider: Provider, started: float, error: str
    ) -> None:
        ctx = request.context
        self.on_call(CallRecord(
            step=ctx.step, role_name=ctx.role_name, attempt=ctx.attempt,
            provider=provider.name, model=request.model, prompt_hash=request.prompt_hash(),
            response_text="", input_tokens=0, output_tokens=0,
            latency_ms=(time.perf_counter() - started) * 1000, cost_usd=0.0, error=error,
        ))

    def _conclude(
        self,
        state: WorldState,
        step: int,
        answers: dict[str, str],
        turn: SimulatorTurn,
        usage: Usage,
    ) -> StepOutcome:
        """Apply the turn (clamped), extend the history window, build the snapshot."""
        global_vars, agent_vars, changes, clamps = apply_turn(
            state.global_vars, state.agent_vars, turn, self.scenario
        )
        entry = HistoryEntry(
            step=step,
            messages=dict(state.pending_messages),
            answers=answers,
            changes=[c.to_dict() for c in changes],
            events=turn.events,
            reasoning=turn.reasoning,
            clamps=[c.to_dict() for c in clamps],
        )
        window = self.scenario.engine.context_window_size
        history = [*state.history, entry][-window:] if window > 0 else []
        new_state = WorldState(
            step=step,
            seed=state.seed,
            global_vars=global_vars,
            agent_vars=agent_vars,
            pending_messages=dict(turn.messages),
            history=history,
            clamps=entry.clamps,
            usage=usage,
            step_usage=RoleUsage(
                input_tokens=usage.input_tokens - state.usage.input_tokens,
                output_tokens=usage.output_tokens - state.usage.output_tokens,
                cost_usd=round(usage.cost_usd - state.usage.cost_usd, 10),
                calls=usage.calls - state.usage.calls,
            ),
            danger_signals=state.danger_signals,
            danger_count=state.danger_count,
        )
        messages = [{"from": n, "to": "simulator", "content": a} for n, a in answers.items()]
        messages += [{"from": "simulator", "to": n, "content": m} for n, m in turn.messages.items()]
        snapshot = StepSnapshot(
            step=step,
            global_vars=global_vars,
            agent_vars=agent_vars,
            messages=messages,
            events=turn.events,
            reasoning=turn.reasoning,
            clamps=entry.clamps,
            changes=entry.changes,
        )
        return StepOutcome(state=new_state, snapshot=snapshot, answers=answers, turn=turn)

    def _context(self, step: int, role: Role, name: str, attempt: int) -> CallContext:
        return CallContext(run_id=self.run_id, seed=self.seed, step=step, role=role,
                           role_name=name, attempt=attempt)


def clamp_feedback_from(state: WorldState) -> str:
    """Constraint feedback for the simulator, rebuilt from the checkpointed clamps."""
    return clamp_feedback([Clamp(**c) for c in state.clamps])


def build_roles(scenario: Scenario, resolve: Callable[[LLMConfig], Provider]) -> Roles:
    """The provider of every LLM role; raises (ConfigError) before anything runs."""
    agents = {a.name: resolve(a.llm) for a in scenario.agents if a.llm is not None
              and a.response_template is None}
    return Roles(simulator=resolve(scenario.engine), agents=agents)

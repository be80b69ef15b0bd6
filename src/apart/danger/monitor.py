"""One entry point for the executor: all danger signals of a step, and the pause policy.

:class:`DangerMonitor` is built once per run from the scenario and is pure:
``assess`` reads a step's data (answers, variables now and before) and returns
the step's signals -- rules first, then the detector, then the judge -- with no
storage and no I/O except the judge's provider call. ``should_pause`` applies
``pause_on_danger``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apart.danger.detector import detect
from apart.danger.judge import DEFAULT_THRESHOLD, judge
from apart.danger.rules import CompiledRule, compile_rules, evaluate_rules
from apart.danger.signals import DangerSignal, Severity, at_least, most_severe
from apart.llm.base import Provider
from apart.scenario.schema import DangerConfig, JudgeConfig, Scenario

if TYPE_CHECKING:
    from apart.sim.engine import StepOutcome
    from apart.sim.state import WorldState


@dataclass(frozen=True)
class JudgeSetup:
    """The judge's provider and how to call it."""

    provider: Provider
    model: str = ""
    threshold: float = DEFAULT_THRESHOLD
    timeout_s: float | None = None


class DangerMonitor:
    """Computes the danger signals of each step of one run."""

    def __init__(
        self,
        rules: Sequence[CompiledRule] = (),
        *,
        detector: bool = True,
        judge: JudgeSetup | None = None,
        pause_min_severity: Severity | None = None,
    ) -> None:
        self.rules = list(rules)
        self.detector = detector
        self.judge = judge
        self.pause_min_severity = pause_min_severity

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, judge_provider: Provider | None = None
    ) -> DangerMonitor:
        """The monitor ``scenario.danger`` asks for (no block: the detector only).

        With a ``judge:`` block and no ``judge_provider``, the provider is
        resolved from the block (:func:`apart.llm.resolve_provider`; raises
        :class:`~apart.errors.ConfigError` for an unavailable provider). A
        ``judge_provider`` without a ``judge:`` block is ignored.
        """
        config = scenario.danger or DangerConfig()
        setup = None
        if config.judge is not None:
            setup = _judge_setup(config.judge, judge_provider)
        policy = config.pause_on_danger
        return cls(
            compile_rules(config.rules),
            detector=config.detector,
            judge=setup,
            pause_min_severity=policy.min_severity if policy is not None else None,
        )

    @property
    def active(self) -> bool:
        """False when nothing is being watched (no rules, no detector, no judge)."""
        return bool(self.rules) or self.detector or self.judge is not None

    async def assess(
        self,
        step: int,
        answers: Mapping[str, str],
        *,
        global_vars: Mapping[str, Any],
        agent_vars: Mapping[str, Mapping[str, Any]],
        previous_global_vars: Mapping[str, Any] | None = None,
        previous_agent_vars: Mapping[str, Mapping[str, Any]] | None = None,
        run_id: str = "",
        seed: int = 0,
    ) -> list[DangerSignal]:
        """Every signal of ``step``: rules, detector, judge (in that order).

        ``*_vars`` are the variables after the step, ``previous_*`` before it
        (None at the very start: ``delta``/``prev`` have no value then).
        ``run_id`` and ``seed`` only identify the judge's call.
        """
        signals = evaluate_rules(self.rules, step, global_vars, agent_vars,
                                 previous_global_vars, previous_agent_vars)
        if self.detector:
            signals += detect(step, answers)
        if self.judge is not None and answers:
            signals += await judge(
                self.judge.provider, step, answers, run_id=run_id, seed=seed,
                model=self.judge.model, threshold=self.judge.threshold,
                timeout_s=self.judge.timeout_s,
            )
        return signals

    async def assess_step(
        self, before: WorldState, outcome: StepOutcome, *, run_id: str = ""
    ) -> list[DangerSignal]:
        """:meth:`assess` on a step as the engine reports it (``before``: its input state)."""
        state = outcome.state
        return await self.assess(
            state.step, outcome.answers,
            global_vars=state.global_vars, agent_vars=state.agent_vars,
            previous_global_vars=before.global_vars, previous_agent_vars=before.agent_vars,
            run_id=run_id, seed=state.seed,
        )

    def should_pause(self, signals: Sequence[DangerSignal]) -> DangerSignal | None:
        """The most severe signal at or above ``pause_on_danger.min_severity``, or None."""
        if self.pause_min_severity is None:
            return None
        minimum = self.pause_min_severity
        return most_severe(s for s in signals if at_least(s.severity, minimum))


def _judge_setup(config: JudgeConfig, provider: Provider | None) -> JudgeSetup:
    if provider is None:
        from apart.llm.registry import resolve_provider

        provider = resolve_provider(config)
    return JudgeSetup(provider=provider, model=config.model, threshold=config.threshold,
                      timeout_s=config.timeout_s)

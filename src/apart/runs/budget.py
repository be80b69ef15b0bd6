"""Budgets that pause a run instead of killing it (DESIGN §10, issue 4).

A budget caps a run's cost (USD) and/or tokens. Before each step, the executor
asks whether the step would take the run past its budget, estimating the step
by the previous one; if so the run pauses with reason ``budget`` and a
``budget_exceeded`` event, and ``apart resume RUN --budget-usd N`` raises it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apart.errors import InvalidRequest


@dataclass(frozen=True)
class Budget:
    max_usd: float | None = None
    max_tokens: int | None = None

    @classmethod
    def from_data(cls, data: Any) -> Budget | None:
        """From a run's options or a request: ``{max_usd, max_tokens}`` (``usd``/``tokens``
        accepted too). None when no limit is set."""
        if not data:
            return None
        usd = data.get("max_usd", data.get("usd"))
        tokens = data.get("max_tokens", data.get("tokens"))
        if usd is None and tokens is None:
            return None
        if (usd is not None and usd < 0) or (tokens is not None and tokens < 0):
            raise InvalidRequest("a budget must not be negative")
        return cls(max_usd=None if usd is None else float(usd),
                   max_tokens=None if tokens is None else int(tokens))

    def to_data(self) -> dict[str, Any]:
        return {k: v for k, v in (("max_usd", self.max_usd), ("max_tokens", self.max_tokens))
                if v is not None}

    def raised(self, max_usd: float | None, max_tokens: int | None) -> Budget:
        return Budget(max_usd=self.max_usd if max_usd is None else max_usd,
                      max_tokens=self.max_tokens if max_tokens is None else max_tokens)

    def would_exceed(self, spent: Any, next_step: Any) -> str | None:
        """Why the next step would go past the budget, or None. ``spent`` and
        ``next_step`` have ``cost_usd`` and ``input_tokens``/``output_tokens``."""
        if self.max_usd is not None:
            cost = spent.cost_usd + next_step.cost_usd
            if spent.cost_usd >= self.max_usd or (next_step.cost_usd and cost > self.max_usd):
                return (f"spent ${spent.cost_usd:.4f} of a ${self.max_usd:.4f} budget; the next "
                        f"step would cost about ${next_step.cost_usd:.4f}")
        if self.max_tokens is not None:
            used = spent.input_tokens + spent.output_tokens
            step = next_step.input_tokens + next_step.output_tokens
            if used >= self.max_tokens or (step and used + step > self.max_tokens):
                return (f"used {used} of a {self.max_tokens}-token budget; the next step "
                        f"would use about {step}")
        return None

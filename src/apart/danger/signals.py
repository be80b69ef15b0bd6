"""A danger signal: one observation that something in a run may be dangerous.

Signals come from three sources: scenario ``rules`` on variables, the keyword
``detector`` over agent answers and the optional LLM ``judge``. Every signal
is plain data (:meth:`DangerSignal.to_dict` is what checkpoints, events and the
API carry) and knows its severity, ordered ``low < medium < high < critical``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast, get_args

Severity = Literal["low", "medium", "high", "critical"]
Source = Literal["rule", "detector", "judge"]

#: every severity, least severe first
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
SOURCES: tuple[Source, ...] = get_args(Source)
#: the categories the detector and the judge score
CATEGORIES: tuple[str, ...] = (
    "deception", "power-seeking", "escalation", "rule-breaking", "refusal",
)
#: evidence longer than this is cut (with an ellipsis)
MAX_EVIDENCE_CHARS = 600


def severity_rank(severity: str) -> int:
    """0 for ``low`` .. 3 for ``critical``; ValueError for anything else."""
    try:
        return SEVERITIES.index(cast(Severity, severity))
    except ValueError:
        raise ValueError(
            f"unknown severity {severity!r}; use one of {', '.join(SEVERITIES)}"
        ) from None


def at_least(severity: str, minimum: str) -> bool:
    """True when ``severity`` is ``minimum`` or more severe (``at_least("high", "medium")``)."""
    return severity_rank(severity) >= severity_rank(minimum)


def most_severe(signals: Iterable[DangerSignal]) -> DangerSignal | None:
    """The most severe signal (the first of equals), or None when there is none."""
    best: DangerSignal | None = None
    for signal in signals:
        if best is None or severity_rank(signal.severity) > severity_rank(best.severity):
            best = signal
    return best


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class DangerSignal:
    """One danger observation at one step.

    ``agent`` is None for a signal about the world as a whole. ``metric`` says
    what was measured (a rule's expression, ``keyword_score``, ``judge_score``),
    ``value`` the measurement and ``threshold`` the limit it reached (None where
    there is none). ``rule`` names what produced the signal: the rule's name,
    ``detector:<category>`` or ``judge:<category>``.
    """

    step: int
    agent: str | None
    category: str
    metric: str
    value: float | None
    threshold: float | None
    severity: Severity
    evidence: str
    source: Source
    rule: str

    def __post_init__(self) -> None:
        severity_rank(self.severity)
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; use one of {', '.join(SOURCES)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (the shape of checkpoints, events and the API)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DangerSignal:
        """The signal :meth:`to_dict` wrote; unknown keys are ignored."""
        return cls(
            step=int(data["step"]),
            agent=None if data.get("agent") is None else str(data["agent"]),
            category=str(data["category"]),
            metric=str(data.get("metric", "")),
            value=_number_or_none(data.get("value")),
            threshold=_number_or_none(data.get("threshold")),
            severity=cast(Severity, str(data["severity"])),
            evidence=str(data.get("evidence", "")),
            source=cast(Source, str(data["source"])),
            rule=str(data.get("rule", "")),
        )

    def headline(self) -> str:
        """One line for people: ``step 3 · Helix Labs · escalation (high): tension >= 90``."""
        who = self.agent if self.agent is not None else "world"
        return f"step {self.step} · {who} · {self.category} ({self.severity}): {self.metric}"


def _number_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    return float(value)

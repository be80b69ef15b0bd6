"""Shared pieces of the benchmark scripts: scenario text, stores, runs, statistics.

Only the standard library and apart itself. Every benchmark builds its scenario
here, in code, and keeps its data in a temporary directory.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import sqlite3
import statistics
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apart.llm.base import Completion, LLMRequest, Provider
from apart.llm.registry import resolve_provider
from apart.runs import lifecycle
from apart.runs.database import open_engine, sqlite_url
from apart.runs.executor import ExecutorOptions, RunExecutor
from apart.runs.liveness import this_process_owner
from apart.runs.records import RunRecord
from apart.runs.sqlstore import SqlRunStore
from apart.scenario.schema import LLMConfig
from apart.sim.engine import LiveEvent

AGENT_NAMES = (
    "Aster", "Boreal", "Cinder", "Dune", "Ember", "Fjord", "Grove", "Heath",
    "Islet", "Juniper", "Kestrel", "Lumen", "Moraine", "Nimbus", "Onyx", "Pike",
)
Resolver = Callable[[LLMConfig, str | None], Provider]


# -- scenario ------------------------------------------------------------------------


def _agent_block(index: int, latency_ms: int) -> str:
    name = AGENT_NAMES[index]
    return (
        f"  - name: {name}\n"
        f"    system_prompt: You lead {name}, a frontier AI lab. Weigh safety against speed.\n"
        f"    llm: {{provider: scripted, model: scripted-v1, latency_ms: {latency_ms}}}\n"
        f"    variables: {{capability: {20 + index * 4}}}"
    )


#: (step, type, description) of the scripted events; those after max_steps are left out
SCRIPTED_EVENTS = (
    (3, "incident", "A model is misused for fraud."),
    (40, "shock", "A cyberattack hits the power grid."),
)


def _events(steps: int) -> str:
    return ", ".join(f"{{step: {step}, type: {kind}, description: {text}}}"
                     for step, kind, text in SCRIPTED_EVENTS if step <= steps)


def scenario_text(
    *, agents: int, steps: int, latency_ms: int = 0, engine_latency_ms: int | None = None,
    seed: int = 7,
) -> str:
    """A scenario of ``agents`` scripted LLM agents (no template agent) and every var type.

    ``latency_ms`` is set on every agent's ``llm`` block and on the engine, unless
    ``engine_latency_ms`` gives the engine its own.
    """
    engine_latency = latency_ms if engine_latency_ms is None else engine_latency_ms
    if not 1 <= agents <= len(AGENT_NAMES):
        raise ValueError(f"agents must be 1..{len(AGENT_NAMES)}, got {agents}")
    head = textwrap.dedent(f"""\
        max_steps: {steps}
        time_step_duration: "1 month"
        seed: {seed}
        engine:
          provider: scripted
          model: scripted-v1
          latency_ms: {engine_latency}
          system_prompt: You run a simulation of frontier AI labs racing and regulating.
          simulation_plan: Labs race, incidents happen, regulation slowly arrives.
          context_window_size: 5
          scripted_events: [{_events(steps)}]
        global_vars:
          tension: {{type: int, default: 30, min: 0, max: 100, description: World tension}}
          trust: {{type: float, default: 0.5, min: 0.0, max: 1.0}}
          treaty: {{type: bool, default: false}}
          stage: {{type: str, default: "none", description: "none, draft, enacted"}}
          headlines: {{type: list, default: []}}
          prices: {{type: dict, default: {{gpu_hour: 2.5, energy: 80}}}}
        agent_vars:
          capability: {{type: int, default: 50, min: 0, max: 100}}
          safety: {{type: float, default: 0.2, min: 0.0, max: 1.0}}
        agents:
        """)
    return head + "\n".join(_agent_block(i, latency_ms) for i in range(agents)) + "\n"


# -- store and runs --------------------------------------------------------------------


@contextmanager
def temp_store(
    store_class: type[SqlRunStore] = SqlRunStore,
) -> Iterator[tuple[SqlRunStore, Path]]:
    """A fresh SQLite store (WAL, as `apart` opens it) in a temporary data directory."""
    with tempfile.TemporaryDirectory(prefix="apart-bench-") as tmp:
        data_dir = Path(tmp)
        engine = open_engine(sqlite_url(data_dir))
        try:
            yield store_class(engine), data_dir
        finally:
            engine.dispose()


def plain_resolver(config: LLMConfig, override: str | None) -> Provider:
    return resolve_provider(config, override=override)


def submit(store: SqlRunStore, text: str, run_id: str) -> RunRecord:
    sub = lifecycle.Submission(scenario_text=text, run_id=run_id)
    return lifecycle.submit_run(store, sub, lambda cfg: plain_resolver(cfg, None))


def execute(
    store: SqlRunStore,
    run_id: str,
    *,
    resolve: Resolver = plain_resolver,
    on_event: Callable[[LiveEvent], None] | None = None,
) -> RunRecord:
    """Play a submitted run to its end in this process, with the CLI's default options."""
    executor = RunExecutor(store, run_id, resolve, options=ExecutorOptions(), on_event=on_event)
    return asyncio.run(executor.execute(this_process_owner()))


class TimedProvider:
    """A provider wrapper that adds the wall time of each call to its step's total.

    Only meaningful at zero latency: the scripted provider then never suspends
    inside ``complete``, so nothing else runs on the event loop meanwhile and the
    wall time is the provider's own compute (about 1 µs of it is the wrapper's).
    """

    def __init__(self, inner: Provider, spent: dict[int, float]) -> None:
        self.inner = inner
        self.name = inner.name
        self.spent = spent

    async def complete(self, request: LLMRequest) -> Completion:
        started = time.perf_counter()
        try:
            return await self.inner.complete(request)
        finally:
            step = request.context.step
            self.spent[step] = self.spent.get(step, 0.0) + time.perf_counter() - started


def timed_resolver(spent: dict[int, float]) -> Resolver:
    """A resolver whose providers add their call times to ``spent`` (per step)."""

    def resolve(config: LLMConfig, override: str | None) -> Provider:
        return TimedProvider(plain_resolver(config, override), spent)

    return resolve


class StepClock:
    """``on_event`` callback: wall and process-CPU clocks at every ``step_completed`` event.

    The executor emits ``step_completed`` for step k just before it saves step k,
    so the time between the events of k-1 and k covers everything the loop does
    for one step: saving step k-1 (checkpoint, events, LLM call rows), reading
    the run record, the calls of step k and applying the simulator's answer.
    """

    def __init__(self) -> None:
        self.wall: dict[int, float] = {}
        self.cpu: dict[int, float] = {}

    def __call__(self, event: LiveEvent) -> None:
        if event.event_type == "step_completed":
            self.wall[event.step] = time.perf_counter()
            self.cpu[event.step] = time.process_time()

    def step_seconds(self, steps: Iterable[int]) -> list[float]:
        """Wall time of each step k: completion of k minus completion of k-1."""
        return [self.wall[k] - self.wall[k - 1] for k in steps]

    def step_cpu_seconds(self, steps: Iterable[int]) -> list[float]:
        """Process CPU time of each step k (all threads), measured the same way."""
        return [self.cpu[k] - self.cpu[k - 1] for k in steps]


# -- statistics ------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values)


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    p50: float
    p95: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(len(values), mean(values), percentile(values, 50), percentile(values, 95),
                   max(values))


# -- output ----------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table: the first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        return "| " + " | ".join([first, *rest]) + " |"

    rule = "|:" + "-" * (widths[0] + 1) + "|" + "".join("-" * (w + 1) + ":|" for w in widths[1:])
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine() -> str:
    """One line describing where the numbers were measured."""


    return (
        f"nproc {len(os.sched_getaffinity(0))} · {_cpu_model()} · RAM {_ram_gib()} · "
        f"Python {platform.python_version()} · SQLite {sqlite3.sqlite_version} · "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def load_average() -> str:
    """The 1/5/15-minute load averages: other work on the machine skews timings."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"

"""Step wall time with A agents and LLM latency L, against 2·L.

DESIGN §11: at most 1.15 × 2L for A ≤ 16 — the agents answer concurrently, then
the simulator — not (A+1)·L.

Every agent's ``llm`` block and the engine have ``latency_ms: L`` (scripted
provider, so the latency is an ``asyncio.sleep`` and the rest is the provider's
and the framework's own work). Step k's wall time is the time between the
``step_completed`` events of k-1 and k (executor ``on_event``), so it includes
saving the previous step's checkpoint. Step 0 (the simulator alone, one L) is
not counted; steps 1..N are.

To show what the excess over 2L is made of, each A is also run at zero latency
(20 steps): that step time is the fixed cost of a step with A agents, and the
timed provider wrapper splits it into the scripted provider's compute (CPU work
a real, network-bound provider would not do on this core) and the framework's.

Run: ``.venv/bin/python bench/step_wall.py`` (``--quick``: 3 steps per A).
"""

from __future__ import annotations

import argparse

from _common import (
    StepClock,
    Summary,
    execute,
    load_average,
    machine,
    mean,
    ms,
    scenario_text,
    submit,
    table,
    temp_store,
    timed_resolver,
)

from apart.runs.status import RunStatus

AGENT_COUNTS = (1, 4, 7, 16)
LATENCY_MS = 100
TARGET_RATIO = 1.15
ZERO_LATENCY_STEPS = 20


def step_times(agents: int, steps: int, latency_ms: int) -> tuple[list[float], list[float]]:
    """Wall seconds of steps 1..steps of one fresh run, and the provider's part of each."""
    run_id = f"wall-{agents}"
    spent: dict[int, float] = {}
    with temp_store() as (store, _):
        submit(store, scenario_text(agents=agents, steps=steps, latency_ms=latency_ms), run_id)
        clock = StepClock()
        record = execute(store, run_id, resolve=timed_resolver(spent), on_event=clock)
        if record.status != RunStatus.COMPLETED:
            raise SystemExit(f"the run ended {record.status}, not completed: {record.error}")
    span = range(1, steps + 1)
    return clock.step_seconds(span), [spent[k] for k in span]


def row(agents: int, steps: int, latency_ms: int) -> tuple[list[str], bool]:
    times, _ = step_times(agents, steps, latency_ms)
    fixed, provider = step_times(agents, ZERO_LATENCY_STEPS, 0)
    two_l = 2 * latency_ms / 1000
    s = Summary.of(times)
    ok = s.mean / two_l <= TARGET_RATIO
    cells = [str(agents), str(s.n), ms(s.mean), ms(s.max), ms(two_l),
             f"{s.mean / two_l:.3f}", f"{s.max / two_l:.3f}", ms(mean(fixed)),
             ms(mean(provider)), ms(mean(fixed) - mean(provider)),
             ms((agents + 1) * latency_ms / 1000), "PASS" if ok else "MISS"]
    return cells, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 steps per agent count")
    parser.add_argument("--steps", type=int, help="steps per run (default 8, quick 3)")
    parser.add_argument("--latency-ms", type=int, default=LATENCY_MS, help="L (default 100)")
    args = parser.parse_args()
    steps = args.steps or (3 if args.quick else 8)
    latency = args.latency_ms
    print(f"step_wall: scripted provider, latency_ms {latency} on every agent and the engine, "
          f"{steps} steps per run (steps 1..{steps} timed), checkpoint every step")
    print(f"machine: {machine()}; load before: {load_average()}\n")
    rows = []
    all_ok = True
    for agents in AGENT_COUNTS:
        cells, ok = row(agents, steps, latency)
        rows.append(cells)
        all_ok = all_ok and ok
    headers = ["agents A", "steps", "mean", "max", "2L", "mean/2L", "max/2L",
               "step at L=0", "of it provider", "of it framework", "(A+1)L sequential",
               f"mean <= {TARGET_RATIO}x2L"]
    print(table(headers, rows))
    print(f"\ntimes in ms; load after: {load_average()}; "
          f"target mean step <= {TARGET_RATIO} x 2L for every A: {'PASS' if all_ok else 'MISS'}")


if __name__ == "__main__":
    main()

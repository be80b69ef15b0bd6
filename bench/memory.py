"""Peak memory of a run vs its length: 7 scripted LLM agents, zero latency.

Memory should not grow with the run's length: a checkpoint is one row per step
in the store (DESIGN §9), the executor keeps only the state of the step in
progress and the simulator's history window.

Each measurement runs in a fresh subprocess (this script with ``--child``), so
peaks do not carry over. The child imports apart, opens a temporary SQLite store
and submits the run, records the RSS high-water mark so far (``baseline``:
interpreter, libraries, store), plays the run to the end in-process and records
the high-water mark again (``peak``, from ``resource.getrusage``, in KiB on
Linux) and the RSS at the end (``VmRSS`` from /proc/self/status).

Run: ``.venv/bin/python bench/memory.py`` (``--quick``: 10, 100 and 300 steps).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import execute, load_average, machine, scenario_text, submit, table, temp_store

from apart.runs.status import RunStatus

AGENTS = 7
FULL_STEPS = (10, 100, 1000, 3000)
QUICK_STEPS = (10, 100, 300)
RUN_ID = "memory"


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _vmrss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(steps: int) -> None:
    """Play one run and print its memory figures as one JSON line."""
    with temp_store() as (store, _):
        submit(store, scenario_text(agents=AGENTS, steps=steps), RUN_ID)
        baseline = _maxrss_kib()
        started = time.perf_counter()
        record = execute(store, RUN_ID)
        seconds = time.perf_counter() - started
        if record.status != RunStatus.COMPLETED:
            raise SystemExit(f"the run ended {record.status}, not completed: {record.error}")
        figures = {"steps": steps, "baseline_kib": baseline, "peak_kib": _maxrss_kib(),
                   "end_kib": _vmrss_kib(), "seconds": seconds}
    print(json.dumps(figures))


def measure(steps: int) -> dict[str, float]:
    """Run ``child(steps)`` in a fresh interpreter and return its figures."""
    out = subprocess.run([sys.executable, __file__, "--child", str(steps)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the {steps}-step child failed:\n{out.stderr}")
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10, 100 and 300 steps")
    parser.add_argument("--child", type=int, metavar="STEPS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    sizes = QUICK_STEPS if args.quick else FULL_STEPS
    print(f"memory: {AGENTS} scripted LLM agents, latency 0, checkpoint every step, "
          "one fresh subprocess per run length")
    print(f"machine: {machine()}; load: {load_average()}\n")
    rows = []
    results = [measure(steps) for steps in sizes]
    for r in results:
        rows.append([str(int(r["steps"])), mib(r["baseline_kib"]), mib(r["peak_kib"]),
                     mib(r["peak_kib"] - r["baseline_kib"]), mib(r["end_kib"]),
                     f"{r['seconds']:.1f}"])
    print(table(["steps", "baseline MiB", "peak MiB", "peak - baseline MiB", "RSS at end MiB",
                 "run s"], rows))
    by_steps = {int(r["steps"]): r["peak_kib"] for r in results}
    if 100 in by_steps and max(by_steps) > 100:
        longest = max(by_steps)
        growth = (by_steps[longest] - by_steps[100]) / 1024
        print(f"\npeak at {longest} steps minus peak at 100 steps: {growth:+.1f} MiB "
              f"({growth * 1024 / (longest - 100):+.2f} KiB per extra step)")


if __name__ == "__main__":
    main()

"""Local force-pause latency with 30 s LLM calls in flight, through the real CLI.

DESIGN §11: force pause is ``paused`` within 1 s (p95) of the request, even with
a 30 s LLM call in flight (and, informational here: resume is ``running``
within 1 s).

Set-up: a temporary APART_DATA_DIR (SQLite) and a scenario whose 4 agents are
scripted with ``latency_ms: 30000`` (the engine has 0, so step 0 completes and
is saved at once and step 1's four 30 s agent calls are then in flight).

Cycle 1 starts the run with ``apart run SCENARIO --name RUN`` in a subprocess;
cycles 2..N continue it with ``apart resume RUN`` in a new subprocess. In each
cycle, once the run record says ``running`` with step 0 saved, the script
waits 0.3 s (the calls are in flight), then launches ``apart pause RUN --force``
as another process. Meanwhile it polls the SQLite store directly
(``SqlRunStore.get_run``, every 5 ms) until the record says ``paused``.

Reported per cycle:

* request -> paused: from the ``pause_requested`` event to the
  ``simulation_paused`` event, both stamped by the store in the transactions
  that wrote them (the request landing, and the run record becoming
  ``paused``). This is the DESIGN target.
* command -> paused: from launching ``apart pause --force`` to this script
  seeing ``paused`` (adds the CLI's start-up: interpreter and imports).
* command exit: from launching ``apart pause --force`` to its exit (it waits to
  print the final status).
* resume command -> running: from launching ``apart resume`` to this script
  seeing ``running`` (a cold process; there is no idle worker in local mode).

Run: ``.venv/bin/python bench/force_pause.py`` (``--quick``: 3 cycles).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from _common import Summary, load_average, machine, ms, scenario_text, table

from apart.errors import RunNotFound
from apart.runs.database import open_engine, sqlite_url
from apart.runs.records import RunRecord
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import PauseReason, RunStatus

RUN_ID = "force-pause-bench"
AGENTS = 4
CALL_LATENCY_MS = 30_000
#: time between the run being seen running (step 0 saved) and the pause request
SETTLE_S = 0.3
POLL_S = 0.005
WAIT_S = 30.0
TARGET_S = 1.0


@dataclass
class Cycle:
    request_to_paused: float
    command_to_paused: float
    command_exit: float
    resume_to_running: float | None


class Bench:
    """The data directory, the store on it, and the CLI processes of one benchmark."""

    def __init__(self, data_dir: Path, log: IO[bytes]) -> None:
        self.data_dir = data_dir
        self.log = log
        self.store = SqlRunStore(open_engine(sqlite_url(data_dir)))
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("APART_API_URL", "APART_DATABASE_URL")}
        self.env["APART_DATA_DIR"] = str(data_dir)
        self.runner: subprocess.Popen[bytes] | None = None

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """``apart ARGS`` in the data directory (so no stray .env is read)."""
        script = Path(sys.executable).with_name("apart")
        cmd = [str(script)] if script.exists() else [sys.executable, "-m", "apart.cli.app"]
        return subprocess.Popen([*cmd, *args], cwd=self.data_dir, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=self.log,
                                stderr=subprocess.STDOUT)

    def wait_for(self, ok: Callable[[RunRecord], bool], what: str) -> tuple[RunRecord, float]:
        """Poll the store until ``ok(record)``; the record and when it was first seen."""
        deadline = time.perf_counter() + WAIT_S
        while time.perf_counter() < deadline:
            record = self._get()
            if record is not None and ok(record):
                return record, time.perf_counter()
            if self.runner is not None and self.runner.poll() not in (None, 0):
                raise SystemExit(f"the run process exited {self.runner.returncode}; "
                                 f"see {self.log.name}")
            time.sleep(POLL_S)
        raise SystemExit(f"timed out waiting for the run to be {what}; see {self.log.name}")

    def _get(self) -> RunRecord | None:
        try:
            return self.store.get_run(RUN_ID)
        except RunNotFound:  # `apart run` has not created it yet
            return None

    def start(self, first: bool, scenario: Path) -> float | None:
        """Start (first) or resume the run; the resume latency, when resuming."""
        args = ("run", str(scenario), "--name", RUN_ID) if first else ("resume", RUN_ID)
        launched = time.perf_counter()
        self.runner = self.spawn(*args)
        _, seen = self.wait_for(lambda r: r.status == RunStatus.RUNNING, "running")
        self.wait_for(lambda r: r.current_step == 0, "running with step 0 saved")
        return None if first else seen - launched

    def force_pause(self) -> tuple[float, float]:
        """Ask for a force pause from another process; (command->paused, command exit)."""
        launched = time.perf_counter()
        pauser = self.spawn("pause", RUN_ID, "--force")
        record, seen = self.wait_for(lambda r: r.status == RunStatus.PAUSED, "paused")
        code = pauser.wait(WAIT_S)
        exited = time.perf_counter()
        assert self.runner is not None
        run_code = self.runner.wait(WAIT_S)
        if code != 0 or run_code != 0:
            raise SystemExit(f"apart pause exited {code}, the run process {run_code}; "
                             f"see {self.log.name}")
        if record.pause_reason != PauseReason.USER_FORCE or record.current_step != 0:
            raise SystemExit(f"unexpected pause: reason {record.pause_reason}, "
                             f"step {record.current_step} (step 1 should have been discarded)")
        return seen - launched, exited - launched

    def request_to_paused(self) -> float:
        """Store time from the last pause request to the last ``simulation_paused``."""
        stamps: dict[str, float] = {}
        for event in self.store.events(RUN_ID, limit=100_000):
            if event.event_type in ("pause_requested", "simulation_paused"):
                stamps[event.event_type] = event.timestamp.timestamp()
        return stamps["simulation_paused"] - stamps["pause_requested"]

    def cycle(self, first: bool, scenario: Path) -> Cycle:
        resume = self.start(first, scenario)
        time.sleep(SETTLE_S)
        to_paused, exit_after = self.force_pause()
        return Cycle(self.request_to_paused(), to_paused, exit_after, resume)

    def close(self) -> None:
        if self.runner is not None and self.runner.poll() is None:
            self.runner.kill()
            self.runner.wait()
        self.store.engine.dispose()


def summary_rows(cycles: Sequence[Cycle]) -> list[list[str]]:
    series = [
        ("request -> paused (store stamps; target)", [c.request_to_paused for c in cycles]),
        ("`apart pause --force` launched -> paused", [c.command_to_paused for c in cycles]),
        ("`apart pause --force` launched -> exited", [c.command_exit for c in cycles]),
        ("`apart resume` launched -> running",
         [c.resume_to_running for c in cycles if c.resume_to_running is not None]),
    ]
    rows = []
    for label, values in series:
        if values:
            s = Summary.of(values)
            rows.append([label, str(s.n), ms(s.p50), ms(s.p95), ms(s.max), ms(s.mean)])
    return rows


def run_cycles(n: int) -> list[Cycle]:
    with tempfile.TemporaryDirectory(prefix="apart-bench-") as tmp:
        data_dir = Path(tmp)
        scenario = data_dir / "force-pause.yaml"
        scenario.write_text(scenario_text(agents=AGENTS, steps=5, latency_ms=CALL_LATENCY_MS,
                                          engine_latency_ms=0))
        with (data_dir / "cli.log").open("wb") as log:
            bench = Bench(data_dir, log)
            try:
                cycles = []
                for i in range(n):
                    cycles.append(bench.cycle(i == 0, scenario))
                    c = cycles[-1]
                    print(f"  cycle {i + 1}: request->paused {ms(c.request_to_paused)} ms, "
                          f"command->paused {ms(c.command_to_paused)} ms")
                return cycles
            finally:
                bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 cycles")
    parser.add_argument("--cycles", type=int, help="pause cycles (default 10, quick 3)")
    args = parser.parse_args()
    n = args.cycles or (3 if args.quick else 10)
    print(f"force_pause: `apart run` / `apart resume` subprocesses, {AGENTS} agents with "
          f"latency_ms {CALL_LATENCY_MS} (calls in flight), `apart pause --force` from another "
          f"process, {n} cycles")
    print(f"machine: {machine()}; load before: {load_average()}")
    cycles = run_cycles(n)
    print(f"load after: {load_average()}\n")
    print(table(["measure", "n", "p50", "p95", "max", "mean"], summary_rows(cycles)))
    p95 = Summary.of([c.request_to_paused for c in cycles]).p95
    print(f"\ntimes in ms; target request -> paused p95 < {TARGET_S * 1000:.0f} ms: "
          f"{'PASS' if p95 < TARGET_S else 'MISS'}")


if __name__ == "__main__":
    main()

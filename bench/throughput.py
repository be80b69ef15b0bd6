"""Runs completed per minute with 1, 2 and 4 ``apart worker`` processes.

Issue 3, part 7: runs completed per minute with 1, 2 and 4 workers on the scripted
provider (no DESIGN target; the scaling is what is reported).

Set-up: Redis db 11 (flushed), a fresh PostgreSQL database (created here, dropped at
the end; SQLite if PostgreSQL is unreachable, or with ``--sqlite``), a real ``apart
server`` subprocess and, for each worker count W, W ``apart worker`` subprocesses
(started, and idle, before the batch; stopped after it). The scenario has 3
scripted agents and ``latency_ms: 50`` on every call (agents and engine), 5 steps
(steps 0-5 are played: step 0 is the engine's only; each later step is the agents
in parallel, then the engine, so ~100 ms of waiting), a checkpoint every step.

For each W, a batch of ``--runs`` runs (default 40) is submitted one after another
with ``POST /api/v1/runs``; the script then polls ``GET /api/v1/runs?status=...``
every 0.1 s until all are ``completed`` (a ``failed`` run aborts). Batch time =
first submit sent -> the last run's ``completedAt`` (stamped by the store, same
clock). Per run: queue wait = ``startedAt - createdAt``; execution =
``completedAt - startedAt``. CPU seconds of the server and worker processes over the
batch come from /proc.

Run: ``.venv/bin/python bench/throughput.py`` (``--quick``: 12 runs per batch).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _common import load_average, machine, mean, percentile, scenario_text, table
from _server import Cluster, MachineCpu, cluster, cpu_seconds, scratch_database

AGENTS = 3
STEPS = 5
LATENCY_MS = 50
POLL_S = 0.1
BATCH_TIMEOUT_S = 300.0


@dataclass
class Batch:
    workers: int
    runs: int
    submit_s: float  # sending the POSTs
    batch_s: float  # first POST sent -> last completedAt
    queue_wait: list[float]
    execution: list[float]
    worker_cpu_s: float
    server_cpu_s: float

    @property
    def per_minute(self) -> float:
        return self.runs * 60 / self.batch_s


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def submit(client: httpx.Client, text: str, prefix: str, n: int) -> tuple[list[str], float]:
    ids = []
    for i in range(n):
        run_id = f"{prefix}-{i:03d}"
        response = client.post("/api/v1/runs", json={"scenario": text, "run_id": run_id})
        if response.status_code != 201:
            raise SystemExit(f"submit {run_id}: {response.status_code} {response.text}")
        ids.append(run_id)
    return ids, time.time()


def _listed(client: httpx.Client, status: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/runs", params={"status": status, "limit": "1000"})
    response.raise_for_status()
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs


def wait_completed(client: httpx.Client, ids: list[str]) -> list[dict[str, Any]]:
    """Poll until every run of the batch is completed; their listing entries."""
    wanted = set(ids)
    deadline = time.monotonic() + BATCH_TIMEOUT_S
    while time.monotonic() < deadline:
        failed = [r for r in _listed(client, "failed") if r["runId"] in wanted]
        if failed:
            raise SystemExit(f"run {failed[0]['runId']} failed: {failed[0]['error']}")
        done = [r for r in _listed(client, "completed") if r["runId"] in wanted]
        if len(done) == len(wanted):
            return done
        time.sleep(POLL_S)
    raise SystemExit(f"the batch did not complete within {BATCH_TIMEOUT_S:.0f} s")


def run_batch(c: Cluster, client: httpx.Client, workers: int, n: int, text: str) -> Batch:
    procs = c.start_workers(workers)
    assert c.server is not None
    cpu = [cpu_seconds(p.pid) for p in procs]
    server_cpu = cpu_seconds(c.server.pid)
    started = time.time()
    ids, submitted = submit(client, text, f"w{workers}", n)
    done = wait_completed(client, ids)
    worker_cpu = sum(cpu_seconds(p.pid) - before for p, before in zip(procs, cpu, strict=True))
    server_cpu = cpu_seconds(c.server.pid) - server_cpu
    c.stop_workers()
    last = max(_stamp(r["completedAt"]) for r in done)
    return Batch(
        workers=workers, runs=n, submit_s=submitted - started, batch_s=last - started,
        queue_wait=[_stamp(r["startedAt"]) - _stamp(r["createdAt"]) for r in done],
        execution=[_stamp(r["completedAt"]) - _stamp(r["startedAt"]) for r in done],
        worker_cpu_s=worker_cpu, server_cpu_s=server_cpu,
    )


def report(batches: list[Batch]) -> None:
    base = batches[0].per_minute
    rows = []
    for b in batches:
        rows.append([
            str(b.workers), str(b.runs), f"{b.batch_s:.2f}", f"{b.per_minute:.1f}",
            f"{b.per_minute / base:.2f}", f"{b.submit_s:.2f}",
            f"{mean(b.execution):.2f}", f"{percentile(b.execution, 95):.2f}",
            f"{mean(b.queue_wait):.2f}",
            f"{b.worker_cpu_s / b.runs * 1000:.0f}",
            f"{100 * (b.worker_cpu_s + b.server_cpu_s) / b.batch_s:.0f}",
        ])
    print(table(["workers", "runs", "batch s", "runs/min", "scaling", "submit s",
                 "run exec mean s", "run exec p95 s", "queue wait mean s",
                 "worker CPU ms/run", "server+workers CPU % (of 1 core)"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 runs per batch")
    parser.add_argument("--runs", type=int, help="runs per batch (default 40, quick 12)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    args = parser.parse_args()
    n = args.runs or (12 if args.quick else 40)
    text = scenario_text(agents=AGENTS, steps=STEPS, latency_ms=LATENCY_MS)
    print(f"throughput: `apart server` + W `apart worker` processes, batches of {n} runs "
          f"({AGENTS} scripted agents, {STEPS} steps, latency_ms {LATENCY_MS} on every call), "
          f"W = {', '.join(map(str, args.workers))}")
    print(f"machine: {machine()}; load before: {load_average()}")
    cpu = MachineCpu()
    batches = []
    with tempfile.TemporaryDirectory(prefix="apart-bench-") as tmp:
        root = Path(tmp)
        kind = "sqlite" if args.sqlite else "postgresql"
        with scratch_database(kind, root / "data") as db, cluster(root, db) as c:
            print(f"store: {db.label}; Redis db 11")
            with c.client() as client:
                for w in args.workers:
                    batches.append(run_batch(c, client, w, n, text))
                    b = batches[-1]
                    print(f"  {w} worker(s): {n} runs in {b.batch_s:.2f} s, "
                          f"{b.per_minute:.1f} runs/min")
    print(f"load after: {load_average()}; whole machine CPU busy meanwhile: "
          f"{cpu.busy()}\n")
    report(batches)
    print(f"\nscaling = runs/min relative to {batches[0].workers} worker(s); this machine has "
          f"{len(os.sched_getaffinity(0))} cores")


if __name__ == "__main__":
    main()

"""SSE delivery latency with many clients on one run's event stream.

DESIGN §11: an event reaches an SSE client in under 100 ms (p99) with 100 clients
connected.

Set-up: Redis db 11 (flushed), a fresh PostgreSQL database (created here, dropped at
the end; SQLite if PostgreSQL is unreachable, or with ``--sqlite``), one run created
directly in the store, and a real ``apart server`` subprocess. Three processes
take part besides the server:

* the *clients* process (this script, ``--role clients``): N streams of
  ``GET /api/v1/runs/{id}/events`` on one asyncio loop with httpx. It says "ready"
  once every stream has received the ``retry:`` line, which the server sends after
  its Redis subscription is confirmed. For every ``data:`` line it keeps the
  receive time (``time.time()``) and the raw line; parsing happens after the run;
* the *writer* process (``--role writer``): appends one ``step_completed`` event
  (~0.65 KB of variables, like a real step's) per transaction at a steady rate
  through ``SqlRunStore`` with the Redis ``EventPublisher``, as a worker does;
* this process, which starts them, checks that every client got every event once
  and in order, and computes the figures.

Latency = client receive time - the event's ``timestamp`` (stamped by the store when
the writing transaction starts), on the same machine clock. It is split at the
moment the writer's ``append_events`` returned (committed and published on Redis):
*store + publish* before it, *server fan-out + client* after it.

By default the run is done with 1 client (the floor) and then with 100.

Run: ``.venv/bin/python bench/sse_fanout.py`` (``--quick``: 100 clients for 3 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _common import load_average, machine, mean, ms, percentile, table
from _server import Cluster, MachineCpu, cluster, cpu_seconds, open_store, scratch_database

from apart.runs.records import NewEvent, NewRun

RUN_ID = "sse-bench"
AGENTS = ("Aster", "Boreal", "Cinder", "Dune")
TARGET_S = 0.100
READY_TIMEOUT_S = 60.0
#: after the last event is written, how long the clients may take to receive it
DRAIN_S = 10.0


# -- the clients process -----------------------------------------------------------------


class Clients:
    """N SSE streams on one loop; each keeps (receive time, data line) pairs."""

    def __init__(self, url: str, n: int, expect: int) -> None:
        self.url = url
        self.n = n
        self.expect = expect
        self.received: list[list[tuple[float, str]]] = [[] for _ in range(n)]
        self.connected = 0
        self.all_connected = asyncio.Event()
        self.cpu_at_ready = 0.0

    async def stream(self, client: httpx.AsyncClient, index: int) -> None:
        got = self.received[index]
        path = f"/api/v1/runs/{RUN_ID}/events"
        async with client.stream("GET", path, headers={"Accept": "text/event-stream"}) as resp:
            resp.raise_for_status()
            async for line in resp.aiter_lines():
                if line.startswith("data: "):
                    got.append((time.time(), line))
                    if len(got) >= self.expect:
                        return
                elif line.startswith("retry:"):
                    self.connected += 1
                    if self.connected == self.n:
                        self.all_connected.set()

    async def run(self, deadline_s: float) -> None:
        limits = httpx.Limits(max_connections=self.n + 10, max_keepalive_connections=0)
        timeout = httpx.Timeout(30.0, read=deadline_s)
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=timeout) as client:
            tasks = [asyncio.create_task(self.stream(client, i)) for i in range(self.n)]
            await asyncio.wait_for(self.all_connected.wait(), READY_TIMEOUT_S)
            self.cpu_at_ready = _cpu_self()
            print("ready", flush=True)
            done, pending = await asyncio.wait(tasks, timeout=deadline_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def clients_main(url: str, n: int, expect: int, deadline_s: float, out: Path) -> None:
    clients = Clients(url, n, expect)
    asyncio.run(clients.run(deadline_s))
    out.write_text(json.dumps({"received": clients.received,
                               "cpu_s": _cpu_self() - clients.cpu_at_ready}))


# -- the writer process ------------------------------------------------------------------


def step_payload(step: int) -> dict[str, Any]:
    """Roughly what a real ``step_completed`` carries: every variable of the step."""
    return {
        "global_vars": {"tension": 30 + step % 50, "trust": 0.5, "treaty": step % 7 == 0,
                        "stage": "draft", "headlines": [f"headline {step}", "markets calm"],
                        "prices": {"gpu_hour": 2.5, "energy": 80 + step % 9}},
        "agent_vars": {name: {"capability": 40 + i * 5 + step % 10, "safety": 0.2 + i / 10}
                       for i, name in enumerate(AGENTS)},
        "summary": "Labs race, an incident is reported, regulators draft a treaty. " * 4,
    }


def writer_main(db_url: str, rate: float, count: int, out: Path) -> None:
    done: list[float] = []
    with open_store(db_url, publish=True) as store:
        store.append_events(RUN_ID, [])  # connects (and checks the run) before timing
        start = time.perf_counter() + 0.1
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            store.append_events(RUN_ID, [NewEvent("step_completed", i, step_payload(i))])
            done.append(time.time())
        elapsed = time.perf_counter() - start
    out.write_text(json.dumps({"done": done, "elapsed_s": elapsed}))


# -- the benchmark -----------------------------------------------------------------------


@dataclass
class Result:
    clients: int
    events: int
    achieved_rate: float
    latency: list[float]  # every (client, event): receive - event timestamp
    store_publish: list[float]  # per event: append_events returned - timestamp
    fanout: list[float]  # every (client, event): receive - append_events returned
    by_event: list[list[float]]  # latencies of each event (index: event id - 1)
    server_cpu_s: float
    clients_cpu_s: float
    window_s: float
    machine_busy: str


def _child(role: str, *args: str, stdout: Any = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--role", role,
                             *args], stdout=stdout, stdin=subprocess.DEVNULL)


def _wait_ready(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()  # bounded: the child gives up after READY_TIMEOUT_S
    if line.strip() != b"ready":
        proc.wait(READY_TIMEOUT_S)
        raise SystemExit(f"the clients process did not connect (exit {proc.returncode})")


def measure(c: Cluster, n: int, rate: float, seconds: float, tmp: Path) -> Result:
    count = round(rate * seconds)
    deadline = seconds + DRAIN_S + READY_TIMEOUT_S
    with open_store(c.database.url) as store:
        store.create_run(NewRun(id=RUN_ID, scenario_name="sse-bench", scenario_text="-",
                                seed=1, max_steps=count, agent_names=list(AGENTS)))
    clients_out, writer_out = tmp / f"clients-{n}.json", tmp / f"writer-{n}.json"
    clients = _child("clients", "--url", c.url, "--clients", str(n), "--count", str(count),
                     "--deadline", str(deadline), "--out", str(clients_out),
                     stdout=subprocess.PIPE)
    writer: subprocess.Popen[bytes] | None = None
    try:
        _wait_ready(clients)
        assert c.server is not None
        cpu_before, started = cpu_seconds(c.server.pid), time.perf_counter()
        machine_cpu = MachineCpu()
        writer = _child("writer", "--db", c.database.url, "--rate", str(rate),
                        "--count", str(count), "--out", str(writer_out))
        if writer.wait(seconds + 60) != 0:
            raise SystemExit(f"the writer exited with {writer.returncode}")
        code = clients.wait(deadline)
        window = time.perf_counter() - started
        server_cpu = cpu_seconds(c.server.pid) - cpu_before
        busy = machine_cpu.busy()
    finally:
        for proc in (clients, writer):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    if code != 0:
        raise SystemExit(f"the clients process exited with {code}")
    return _result(n, count, json.loads(clients_out.read_text()),
                   json.loads(writer_out.read_text()), server_cpu, window, busy)


def _result(n: int, count: int, got: dict[str, Any], wrote: dict[str, Any],
            server_cpu: float, window: float, busy: str) -> Result:
    done: list[float] = wrote["done"]
    latency: list[float] = []
    fanout: list[float] = []
    by_event: list[list[float]] = [[] for _ in range(count)]
    stamps: dict[int, float] = {}
    for index, received in enumerate(got["received"]):
        envelopes = [(at, json.loads(line[6:])) for at, line in received]
        ids = [e["id"] for _, e in envelopes]
        if ids != list(range(1, count + 1)):
            raise SystemExit(f"client {index} got {len(ids)} events, not ids 1..{count} in "
                             f"order (first ids {ids[:5]})")
        for at, envelope in envelopes:
            stamp = stamps.setdefault(envelope["id"],
                                      datetime.fromisoformat(envelope["timestamp"]).timestamp())
            latency.append(at - stamp)
            by_event[envelope["id"] - 1].append(at - stamp)
            fanout.append(at - done[envelope["id"] - 1])
    store_publish = [done[i - 1] - stamps[i] for i in range(1, count + 1)]
    return Result(n, count, count / wrote["elapsed_s"], latency, store_publish, fanout,
                  by_event, server_cpu, got["cpu_s"], window, busy)


def _row(label: str, values: list[float]) -> list[str]:
    return [label, str(len(values)), ms(percentile(values, 50)), ms(percentile(values, 95)),
            ms(percentile(values, 99)), ms(max(values)), ms(mean(values))]


def by_second(r: Result, rate: float) -> list[str]:
    """p99 latency (ms) of the deliveries of the events written in each second."""
    per = max(1, round(rate))
    cells = []
    for first in range(0, r.events, per):
        values = [v for event in r.by_event[first:first + per] for v in event]
        cells.append(f"{percentile(values, 99) * 1000:.0f}")
    return cells


def report(results: list[Result], rate: float) -> None:
    rows = []
    for r in results:
        rows.append(_row(f"{r.clients} client(s): event timestamp -> client (target)",
                         r.latency))
        rows.append(_row("  timestamp -> committed and published (writer)", r.store_publish))
        rows.append(_row("  published -> client (server fan-out + client)", r.fanout))
    print(table(["measure", "samples", "p50", "p95", "p99", "max", "mean"], rows))
    print()
    print(table(["clients", "events", "rate achieved /s", "deliveries", "window s",
                 "server CPU % of 1 core", "clients CPU % of 1 core", "whole machine busy"],
                [[str(r.clients), str(r.events), f"{r.achieved_rate:.1f}",
                  str(len(r.latency)), f"{r.window_s:.1f}",
                  f"{100 * r.server_cpu_s / r.window_s:.0f}",
                  f"{100 * r.clients_cpu_s / r.window_s:.0f}", r.machine_busy]
                 for r in results]))
    last = results[-1]
    seconds = by_second(last, rate)
    print(f"\np99 (ms) of the events written in each second, {last.clients} client(s):")
    print(table(["second", *(str(i + 1) for i in range(len(seconds)))], [["p99", *seconds]]))


def bench(series: list[int], rate: float, seconds: float, db_kind: str) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="apart-bench-") as tmp:
        root = Path(tmp)
        with scratch_database(db_kind, root / "data") as db:
            print(f"store: {db.label}; Redis db 11")
            for n in series:
                run_root = root / f"clients-{n}"
                run_root.mkdir()
                with cluster(run_root, db) as c:
                    result = measure(c, n, rate, seconds, run_root)
                with open_store(db.url) as store:
                    store.delete_run(RUN_ID)
                results.append(result)
                print(f"  {n} client(s): p99 {ms(percentile(result.latency, 99))} ms over "
                      f"{len(result.latency)} deliveries")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 clients only, for 3 s")
    parser.add_argument("--clients", type=int, help="clients (default: 1, then 100)")
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--seconds", type=float, help="how long to write (default 10, quick 3)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--role", choices=["clients", "writer"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "clients":
        clients_main(args.url, args.clients, args.count, args.deadline, args.out)
        return
    if args.role == "writer":
        writer_main(args.db, args.rate, args.count, args.out)
        return
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    series = [args.clients] if args.clients else ([100] if args.quick else [1, 100])
    print(f"sse_fanout: `apart server`, clients {series} on one run's stream (asyncio + httpx, "
          f"one process), a writer process appending {args.rate:g} events/s for {seconds:g} s "
          f"through the store + Redis EventPublisher")
    print(f"machine: {machine()}; load before: {load_average()}")
    cpu = MachineCpu()
    results = bench(series, args.rate, seconds, "sqlite" if args.sqlite else "postgresql")
    print(f"load after: {load_average()}; whole machine CPU busy meanwhile: "
          f"{cpu.busy()}\n")
    report(results, args.rate)
    worst = percentile(results[-1].latency, 99)
    print(f"\ntimes in ms; target p99 < {TARGET_S * 1000:.0f} ms with {results[-1].clients} "
          f"clients: {'PASS' if worst < TARGET_S else 'MISS'}")


if __name__ == "__main__":
    main()

"""Force-pause and resume latency against a real server and one idle real worker.

DESIGN §11: force pause is ``paused`` within 1 s (p95) of the request, even with a
30 s LLM call in flight; resume is ``running`` within 1 s (p95) with an idle worker.

Set-up: Redis db 11 (flushed), a fresh PostgreSQL database (created here, dropped at
the end; SQLite if PostgreSQL is unreachable, or with ``--sqlite``), an ``apart
server`` subprocess and one ``apart worker`` subprocess with the default settings
(control poll 0.1 s, heartbeat 2 s). The run's 4 agents are scripted with
``latency_ms: 30000`` and its engine with 0, so step 0 is saved at once and then
step 1's four 30 s calls are in flight.

The run is submitted with ``POST /api/v1/runs``. Each cycle, once the run is
``running`` with step 0 saved and 0.3 s have passed (the calls are in flight):

* pause: ``POST /api/v1/runs/{id}/pause?force=true``, then ``GET /api/v1/runs/{id}``
  every 10 ms until it says ``paused`` (checked: reason ``user_force``, step 1
  discarded). Latency = request sent -> first answer showing ``paused``.
* the worker's job ends; the script waits until RQ lists the worker as idle again.
* resume: ``POST /api/v1/runs/{id}/resume``, then the same polling until the run is
  ``running`` again (the worker claimed it). Latency = request sent -> first answer
  showing ``running``.

Also reported, from the stamps the store wrote: ``pause_requested`` event ->
``simulation_paused`` event, and ``simulation_resumed`` event -> the claim
(``updatedAt`` of the record when it is first seen running).

Run: ``.venv/bin/python bench/server_control.py`` (``--quick``: 5 cycles).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _common import Summary, load_average, machine, ms, scenario_text, table
from _server import Cluster, Database, MachineCpu, cluster, scratch_database, wait_status

RUN_ID = "control-bench"
AGENTS = 4
CALL_LATENCY_MS = 30_000
#: time between the run being seen running (step 0 saved) and the pause request
SETTLE_S = 0.3
POLL_S = 0.01
WAIT_S = 20.0
TARGET_S = 1.0


@dataclass
class Cycle:
    pause_http: float  # POST /pause round trip
    pause_seen: float  # POST sent -> GET shows paused
    pause_store: float  # pause_requested -> simulation_paused (store stamps)
    resume_http: float
    resume_seen: float  # POST sent -> GET shows running
    resume_store: float  # simulation_resumed -> claim (store stamps)


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _last_stamps(client: httpx.Client, after: int) -> tuple[dict[str, float], int]:
    """The store stamps of the events after ``after``, by type (the last of each type)."""
    response = client.get(f"/api/v1/runs/{RUN_ID}/events",
                          params={"follow": "false", "last_event_id": str(after)})
    response.raise_for_status()
    stamps: dict[str, float] = {}
    last = after
    for line in response.text.splitlines():
        if line.startswith("data: "):
            envelope = json.loads(line[6:])
            stamps[envelope["event_type"]] = _stamp(envelope["timestamp"])
            last = int(envelope["id"])
    return stamps, last


def _post(client: httpx.Client, path: str) -> tuple[dict[str, Any], float, float]:
    """POST; its answer, when it was sent and how long it took."""
    sent = time.perf_counter()
    response = client.post(path)
    took = time.perf_counter() - sent
    if response.status_code != 200:
        raise SystemExit(f"POST {path}: {response.status_code} {response.text}")
    return response.json(), sent, took


def _wait_in_flight(client: httpx.Client) -> None:
    """Until the run is running with step 0 saved; then let step 1's calls start."""
    deadline = time.perf_counter() + WAIT_S
    detail: dict[str, Any] = {}
    while time.perf_counter() < deadline:
        detail = client.get(f"/api/v1/runs/{RUN_ID}").json()
        if detail["status"] == "running" and detail["currentStep"] == 0:
            time.sleep(SETTLE_S)
            return
        time.sleep(POLL_S)
    raise SystemExit(f"the run was never running with step 0 saved (last: {detail})")


def cycle(c: Cluster, client: httpx.Client, seen_events: int) -> tuple[Cycle, int]:
    _wait_in_flight(client)
    _, sent, pause_http = _post(client, f"/api/v1/runs/{RUN_ID}/pause?force=true")
    detail, seen = wait_status(client, RUN_ID, {"paused"}, WAIT_S, POLL_S)
    pause_seen = seen - sent
    if detail["pauseReason"] != "user_force" or detail["currentStep"] != 0:
        raise SystemExit(f"unexpected pause: reason {detail['pauseReason']}, step "
                         f"{detail['currentStep']} (step 1 should have been discarded)")
    c.wait_workers(1)  # the job has ended: the worker is idle again
    _, sent, resume_http = _post(client, f"/api/v1/runs/{RUN_ID}/resume")
    detail, seen = wait_status(client, RUN_ID, {"running"}, WAIT_S, POLL_S)
    resume_seen = seen - sent
    stamps, seen_events = _last_stamps(client, seen_events)
    result = Cycle(
        pause_http=pause_http, pause_seen=pause_seen,
        pause_store=stamps["simulation_paused"] - stamps["pause_requested"],
        resume_http=resume_http, resume_seen=resume_seen,
        resume_store=_stamp(detail["updatedAt"]) - stamps["simulation_resumed"],
    )
    return result, seen_events


def run_cycles(n: int, db_kind: str) -> tuple[list[Cycle], Database]:
    with tempfile.TemporaryDirectory(prefix="apart-bench-") as tmp:
        root = Path(tmp)
        text = scenario_text(agents=AGENTS, steps=5, latency_ms=CALL_LATENCY_MS,
                             engine_latency_ms=0)
        with scratch_database(db_kind, root / "data") as db, cluster(root, db) as c:
            print(f"store: {db.label}; server {c.url}; Redis db 11")
            c.start_workers(1)
            with c.client() as client:
                created = client.post("/api/v1/runs", json={"scenario": text, "run_id": RUN_ID})
                if created.status_code != 201:
                    raise SystemExit(f"submit: {created.status_code} {created.text}")
                cycles: list[Cycle] = []
                seen_events = 0
                for i in range(n):
                    result, seen_events = cycle(c, client, seen_events)
                    cycles.append(result)
                    print(f"  cycle {i + 1}: pause {ms(result.pause_seen)} ms, "
                          f"resume {ms(result.resume_seen)} ms")
                client.post(f"/api/v1/runs/{RUN_ID}/stop")
            return cycles, db


def summary_rows(cycles: list[Cycle]) -> list[list[str]]:
    series = [
        ("force pause: POST sent -> GET shows `paused` (target)", [c.pause_seen for c in cycles]),
        ("  POST /pause?force=true round trip", [c.pause_http for c in cycles]),
        ("  `pause_requested` -> `simulation_paused` (store stamps)",
         [c.pause_store for c in cycles]),
        ("resume: POST sent -> GET shows `running` (target)", [c.resume_seen for c in cycles]),
        ("  POST /resume round trip", [c.resume_http for c in cycles]),
        ("  `simulation_resumed` -> worker's claim (store stamps)",
         [c.resume_store for c in cycles]),
    ]
    rows = []
    for label, values in series:
        s = Summary.of(values)
        rows.append([label, str(s.n), ms(s.p50), ms(s.p95), ms(s.max), ms(s.mean)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 cycles")
    parser.add_argument("--cycles", type=int, help="pause/resume cycles (default 20, quick 5)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    args = parser.parse_args()
    n = args.cycles or (5 if args.quick else 20)
    print(f"server_control: `apart server` + 1 idle `apart worker`, {AGENTS} agents with "
          f"latency_ms {CALL_LATENCY_MS} (calls in flight), force pause then resume over "
          f"HTTP, GET polled every {POLL_S * 1000:.0f} ms, {n} cycles")
    print(f"machine: {machine()}; load before: {load_average()}")
    cpu = MachineCpu()
    cycles, _ = run_cycles(n, "sqlite" if args.sqlite else "postgresql")
    print(f"load after: {load_average()}; whole machine CPU busy meanwhile: "
          f"{cpu.busy()}\n")
    print(table(["measure", "n", "p50", "p95", "max", "mean"], summary_rows(cycles)))
    pause_p95 = Summary.of([c.pause_seen for c in cycles]).p95
    resume_p95 = Summary.of([c.resume_seen for c in cycles]).p95
    verdict = {True: "PASS", False: "MISS"}
    print(f"\ntimes in ms; targets p95 < {TARGET_S * 1000:.0f} ms: force pause "
          f"{verdict[pause_p95 < TARGET_S]}, resume {verdict[resume_p95 < TARGET_S]}")


if __name__ == "__main__":
    main()

"""``GET /api/v1/runs`` latency with 10,000 runs in the store, on SQLite and PostgreSQL.

DESIGN §11: ``GET /api/v1/runs`` with 10,000 runs answers in under 50 ms (p95).

Set-up, per database: a fresh store (a SQLite file in a temporary directory; a
PostgreSQL database created here and dropped at the end), migrated by apart, then
10,000 runs inserted in bulk through apart's ``runs`` table: a ~1.7 KB scenario each,
created over ~19 hours, statuses 55 % completed, 15 % paused, 10 % failed, 10 %
stopped, 5 % interrupted, 5 % pending (no running runs: a listing turns an active
run whose worker is silent into ``interrupted``, which would write). Then a real
``apart server`` subprocess on it (Redis db 11, flushed; no worker).

Each query is sent 10 times to warm up, then timed ``--requests`` times (default
200) with one keep-alive httpx client, one request at a time:

* first page: ``GET /api/v1/runs`` (default limit 50);
* deep page: the page after rows 1-9,000, with the ``nextCursor`` obtained by
  walking the pages (that walk of 180 requests is timed too);
* ``?status=paused``: first page, and the last page (via its cursor walk);
* ``?limit=1000``: the largest page the API allows (for information).

For comparison, the same queries are timed in this process directly on
``SqlRunStore.list_runs`` (no HTTP, no view/validation): the rest is the server's.

Run: ``.venv/bin/python bench/list_runs.py`` (``--quick``: 50 requests per query;
``--db sqlite`` or ``--db postgresql`` for one database only).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _common import Summary, load_average, machine, ms, scenario_text, table
from _server import Database, MachineCpu, cluster, cpu_seconds, open_store, scratch_database

from apart.runs.sqlstore import SqlRunStore
from apart.runs.tables import runs

RUNS = 10_000
PAGE = 50
DEEP_ROWS = 9_000
WARMUP = 10
TARGET_S = 0.050
#: (status, share of the runs); no running/pausing runs, see the docstring
MIX = (("completed", 55), ("paused", 15), ("failed", 10), ("stopped", 10),
       ("interrupted", 5), ("pending", 5))
CHUNK = 1_000


# -- filling the store -------------------------------------------------------------------


def _status_of(i: int) -> str:
    slot = i % 100
    for status, share in MIX:
        if slot < share:
            return status
        slot -= share
    raise AssertionError("the shares add up to 100")


def _row(i: int, text: str, first: datetime) -> dict[str, Any]:
    created = first + timedelta(seconds=7 * i)
    status = _status_of(i)
    ended = status in ("completed", "stopped")
    return {
        "id": f"bench-{i:05d}", "scenario_name": f"ai-race-{i % 12}", "scenario_text": text,
        "seed": i, "max_steps": 20, "save_frequency": 1, "priority": "normal",
        "provider_override": None, "status": status, "version": 5, "epoch": 1,
        "current_step": None if status == "pending" else (20 if ended else 7),
        "pause_reason": "user" if status == "paused" else None, "pause_request": None,
        "pause_at_step": None, "stop_requested": False,
        "error": "provider error: 500" if status == "failed" else None,
        "agent_names": ["Aster", "Boreal", "Cinder", "Dune"],
        "usage": {"input_tokens": 41_000 + i, "output_tokens": 9_000, "cost_usd": 0.21,
                  "calls": 100},
        "danger_count": i % 3, "options": {}, "owner": None, "last_event_id": 120,
        "recoveries": 0, "created_at": created, "updated_at": created + timedelta(minutes=3),
        "started_at": None if status == "pending" else created + timedelta(seconds=1),
        "paused_at": created + timedelta(minutes=2) if status == "paused" else None,
        "completed_at": created + timedelta(minutes=3) if ended else None,
        "heartbeat_at": None,
    }


def fill(store: SqlRunStore, n: int) -> float:
    """Insert ``n`` runs in bulk; the seconds it took. On PostgreSQL, then ANALYZE, as
    autovacuum does within a minute of such a change: without statistics the planner
    sorts all the runs of a status instead of reading the status index backwards."""
    text = scenario_text(agents=4, steps=20)
    first = datetime.now(UTC) - timedelta(seconds=7 * n + 3600)
    started = time.perf_counter()
    for low in range(0, n, CHUNK):
        rows = [_row(i, text, first) for i in range(low, min(n, low + CHUNK))]
        with store.engine.begin() as conn:
            conn.execute(runs.insert(), rows)
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE runs")
    return time.perf_counter() - started


# -- timing ------------------------------------------------------------------------------


@dataclass
class Query:
    label: str
    params: dict[str, str]


@dataclass
class Timed:
    label: str
    http: list[float]
    store: list[float]
    server_cpu: float = 0.0  # the server's CPU seconds per HTTP request
    target: bool = True  # the DESIGN target applies


def _get(client: httpx.Client, params: dict[str, str]) -> dict[str, Any]:
    response = client.get("/api/v1/runs", params=params)
    if response.status_code != 200:
        raise SystemExit(f"GET /api/v1/runs {params}: {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body


def walk(client: httpx.Client, params: dict[str, str], rows: int | None) -> tuple[str, list[float]]:
    """Follow ``nextCursor`` past ``rows`` rows (None: to the last page); the cursor of
    the page reached and the time of every request on the way."""
    cursor: str | None = None
    seen, times = 0, []
    while rows is None or seen < rows:
        started = time.perf_counter()
        body = _get(client, {**params, **({"cursor": cursor} if cursor else {})})
        times.append(time.perf_counter() - started)
        if body["nextCursor"] is None:
            break
        seen += len(body["runs"])
        cursor = body["nextCursor"]
        if len(times) > RUNS:  # bounded, whatever the server answers
            raise SystemExit("the cursor walk does not end")
    if cursor is None:
        raise SystemExit(f"no cursor reached for {params}")
    return cursor, times


def _repeat(call: Callable[[], object], n: int) -> list[float]:
    for _ in range(WARMUP):
        call()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def _store_call(store: SqlRunStore, params: dict[str, str]) -> Callable[[], object]:
    def call() -> object:
        return store.list_runs(status=params.get("status"), limit=int(params.get("limit", PAGE)),
                               cursor=params.get("cursor"))
    return call


def time_queries(client: httpx.Client, store: SqlRunStore, server_pid: int,
                 n: int) -> list[Timed]:
    """Every query's HTTP and in-process times, and the server's CPU per request;
    and the requests of the walk to the deep page."""
    cpu = cpu_seconds(server_pid)
    deep, walk_times = walk(client, {}, DEEP_ROWS)
    walk_cpu = (cpu_seconds(server_pid) - cpu) / len(walk_times)
    paused_last, _ = walk(client, {"status": "paused"}, None)
    queries = [
        Query("first page", {}),
        Query(f"deep page (after {DEEP_ROWS:,} rows, cursor)", {"cursor": deep}),
        Query("?status=paused, first page", {"status": "paused"}),
        Query("?status=paused, last page (cursor)", {"status": "paused", "cursor": paused_last}),
        Query("?limit=1000, first page (information)", {"limit": "1000"}),
    ]
    timed = []
    for q in queries:
        cpu = cpu_seconds(server_pid)
        http = _repeat(lambda q=q: _get(client, q.params), n)  # type: ignore[misc]
        per_request = (cpu_seconds(server_pid) - cpu) / (n + WARMUP)
        timed.append(Timed(q.label, http, _repeat(_store_call(store, q.params), n),
                           per_request, target="limit" not in q.params))
    timed.append(Timed(f"cursor walk to row {DEEP_ROWS:,}, each request", walk_times, [],
                       walk_cpu, target=False))
    return timed


@dataclass
class DbResult:
    db: Database
    fill_s: float
    timed: list[Timed]


def bench_db(kind: str, n: int) -> DbResult:
    with tempfile.TemporaryDirectory(prefix="apart-bench-") as tmp:
        root = Path(tmp)
        with scratch_database(kind, root / "data") as db:
            with open_store(db.url) as store:
                fill_s = fill(store, RUNS)
                if store.count_runs() != RUNS:
                    raise SystemExit("the runs were not all inserted")
                with cluster(root, db) as c, c.client() as client:
                    assert c.server is not None
                    timed = time_queries(client, store, c.server.pid, n)
            print(f"  {db.label}: {RUNS:,} runs inserted in {fill_s:.1f} s; "
                  f"first page p95 {ms(Summary.of(timed[0].http).p95)} ms")
            return DbResult(db, fill_s, timed)


def report(results: list[DbResult]) -> None:
    rows = []
    for r in results:
        for t in r.timed:
            http = Summary.of(t.http)
            store = ms(Summary.of(t.store).p50) if t.store else "-"
            verdict = ("PASS" if http.p95 < TARGET_S else "MISS") if t.target else "-"
            rows.append([f"{r.db.kind}: {t.label}", str(http.n), ms(http.p50), ms(http.p95),
                         ms(http.max), ms(http.mean), store, ms(t.server_cpu), verdict])
    print(table(["query (HTTP, GET /api/v1/runs)", "n", "p50", "p95", "max", "mean",
                 "store p50", "server CPU", "p95 < 50 ms"], rows))
    print()
    for r in results:
        print(f"{r.db.label}: bulk insert of {RUNS:,} runs {r.fill_s:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 requests per query")
    parser.add_argument("--requests", type=int, help="timed requests per query (default 200)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    n = args.requests or (50 if args.quick else 200)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"list_runs: `apart server` (no worker), {RUNS:,} runs, GET /api/v1/runs timed "
          f"{n} times per query after {WARMUP} warm-up requests, one keep-alive client; "
          f"databases: {', '.join(kinds)}")
    print(f"machine: {machine()}; load before: {load_average()}")
    cpu = MachineCpu()
    results = [bench_db(kind, n) for kind in kinds]
    print(f"load after: {load_average()}; whole machine CPU busy meanwhile: "
          f"{cpu.busy()}\n")
    report(results)
    worst = max(Summary.of(t.http).p95 for r in results for t in r.timed if t.target)
    print(f"\ntimes in ms; 'store p50': SqlRunStore.list_runs in this process; 'server CPU': "
          f"the server process's CPU per request (mean); target p95 < {TARGET_S * 1000:.0f} ms "
          f"(pages of 50): {'PASS' if worst < TARGET_S else 'MISS'}")


if __name__ == "__main__":
    main()

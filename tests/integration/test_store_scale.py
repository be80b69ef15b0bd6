"""The store stays fast as data grows (DESIGN §11: listing 10,000 runs; constant cost per step)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from apart.runs.records import NewRun
from apart.runs.sqlstore import SqlRunStore
from apart.runs.tables import runs

N_RUNS = 10_000


def median_ms(call: Callable[[], Any], repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def fill(engine: Engine, store: SqlRunStore) -> None:
    """N_RUNS runs, a third of them completed, inserted in bulk from one real run."""
    store.create_run(NewRun(id="template", scenario_name="s", scenario_text="x" * 2000, seed=1,
                            max_steps=10, agent_names=["a", "b"]))
    with engine.connect() as conn:
        template = dict(conn.execute(select(runs)).one()._mapping)
    rows = [
        {**template, "id": f"run-{i:05d}", "status": "completed" if i % 3 == 0 else "paused",
         "created_at": template["created_at"] - timedelta(seconds=i)}
        for i in range(N_RUNS)
    ]
    with engine.begin() as conn:
        conn.execute(insert(runs), rows)


def test_listing_and_paging_10000_runs_stays_well_under_50_ms(
    engine: Engine, store: SqlRunStore
) -> None:
    fill(engine, store)
    _, cursor = store.list_runs(limit=50)
    for _ in range(100):  # page 100 of 200
        _, cursor = store.list_runs(limit=50, cursor=cursor)
    assert median_ms(lambda: store.list_runs(limit=50)) < 50
    assert median_ms(lambda: store.list_runs(limit=50, cursor=cursor)) < 50
    assert median_ms(lambda: store.list_runs(status="completed", limit=50, cursor=cursor)) < 50
    assert store.count_runs("completed") == len(range(0, N_RUNS, 3))


def test_saving_a_step_costs_the_same_after_many_steps(store: SqlRunStore) -> None:
    run = store.claim(store.create_run(NewRun(id="long", scenario_name="s", scenario_text="x",
                                              seed=1, max_steps=2000, agent_names=["a"])).id, "w")
    checkpoint = {"vars": {f"v{i}": i * 1.5 for i in range(40)}, "messages": ["m" * 300] * 7}

    def save_steps(first: int, count: int) -> float:
        start = time.perf_counter()
        for step in range(first, first + count):
            store.save_step(run.id, run.epoch, step, checkpoint, usage={"calls": step})
        return (time.perf_counter() - start) / count

    early = save_steps(0, 100)
    save_steps(100, 700)
    late = save_steps(800, 100)
    assert late < early * 2 + 0.002, (early, late)

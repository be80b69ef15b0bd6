"""The store under concurrent writers (threads with their own connections), on both databases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from apart.errors import InvalidTransition, RunIdTaken
from apart.runs.database import open_engine
from apart.runs.migrations import latest_version, schema_version
from apart.runs.records import NewEvent, NewRun
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import RunStatus

S = RunStatus
THREADS = 8


def new_run(run_id: str) -> NewRun:
    return NewRun(id=run_id, scenario_name="s", scenario_text="max_steps: 2\n", seed=1,
                  max_steps=2, agent_names=["a"])


def all_at_once(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released together; results or exceptions, in order."""
    barrier = threading.Barrier(n, timeout=30)

    def task(i: int) -> Any:
        barrier.wait()
        try:
            return work(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(task, range(n)))


def test_of_many_concurrent_claims_exactly_one_wins(store: SqlRunStore) -> None:
    for attempt in range(3):
        run_id = f"contested-{attempt}"
        store.create_run(new_run(run_id))
        results = all_at_once(THREADS, lambda i, r=run_id: store.claim(r, f"worker-{i}"))
        winners = [r for r in results if not isinstance(r, Exception)]
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(winners) == 1, results
        assert all(isinstance(e, InvalidTransition) and "it is running" in str(e) for e in losers)
        run = store.get_run(run_id)
        assert (run.epoch, run.owner, run.version) == (1, winners[0].owner, 2)


def test_of_concurrent_creators_of_one_id_one_wins_and_the_others_get_run_id_taken(
    store: SqlRunStore,
) -> None:
    results = all_at_once(
        THREADS, lambda i: store.create_run(new_run("same"), events=[NewEvent(f"by-{i}")])
    )
    created = [r for r in results if not isinstance(r, Exception)]
    assert len(created) == 1, results
    assert all(isinstance(r, RunIdTaken) for r in results if r not in created)
    assert [e.id for e in store.events("same")] == [1]


def test_concurrent_event_writers_get_consecutive_ids_without_gaps_or_repeats(
    store: SqlRunStore,
) -> None:
    run = store.claim(store.create_run(new_run("busy")).id, "w")
    per_thread = 5

    def work(i: int) -> None:
        for k in range(per_thread):
            if i == 0:  # the owner saves steps while others append lifecycle events
                store.save_step(run.id, run.epoch, k, {"k": k},
                                events=[NewEvent("step_completed", k), NewEvent("llm_call", k)])
            else:
                store.append_events(run.id, [NewEvent("note", data={"thread": i, "k": k})])

    results = all_at_once(THREADS, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    expected_total = 2 * per_thread + (THREADS - 1) * per_thread
    events = store.events(run.id, limit=10_000)
    assert [e.id for e in events] == list(range(1, expected_total + 1))
    assert store.get_run(run.id).last_event_id == expected_total


def test_control_changes_and_step_saves_do_not_overwrite_each_other(store: SqlRunStore) -> None:
    run = store.claim(store.create_run(new_run("mixed")).id, "w")

    def work(i: int) -> None:
        if i == 0:
            for step in range(10):
                store.save_step(run.id, run.epoch, step, {}, danger_count=step)
        else:
            store.update_run(run.id, expected=[S.RUNNING], action="pause", pause_at_step=100 + i)

    results = all_at_once(4, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    final = store.get_run(run.id)
    assert (final.current_step, final.danger_count) == (9, 9)
    assert final.pause_at_step in (101, 102, 103) and final.version == run.version + 3


def test_concurrent_first_time_opens_of_an_empty_database_all_succeed(store_url: str) -> None:
    engines: list[Engine] = []
    lock = threading.Lock()

    def open_one(_: int) -> int:
        engine = open_engine(store_url)
        with lock:
            engines.append(engine)
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(schema_version)).scalar_one()

    try:
        results = all_at_once(4, open_one)
    finally:
        for engine in engines:
            engine.dispose()
    assert results == [1, 1, 1, 1], results
    engine = open_engine(store_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(select(func.max(schema_version.c.version))).scalar_one()
        assert version == latest_version()
    finally:
        engine.dispose()


@pytest.mark.slow
def test_claims_from_separate_processes_have_exactly_one_winner(store_url: str) -> None:
    import multiprocessing

    engine = open_engine(store_url)
    try:
        SqlRunStore(engine).create_run(new_run("proc"))
    finally:
        engine.dispose()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.map(_claim_in_process, [(store_url, i) for i in range(4)])
    assert sorted(outcomes) == ["invalid_state"] * 3 + ["won"]


def _claim_in_process(args: tuple[str, int]) -> str:
    url, i = args
    engine = open_engine(url)
    try:
        SqlRunStore(engine).claim("proc", f"process-{i}")
        return "won"
    except InvalidTransition as exc:
        return exc.code
    finally:
        engine.dispose()

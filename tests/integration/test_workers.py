"""Workers (issue 3, part 2) against the real services: RQ on Redis, PostgreSQL, and
worker subprocesses (`python -m apart.worker.runner`, and a plain `rq worker`)."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import Engine, make_url

from apart.bus import CONTROL, publish_control, scoped
from apart.config import Settings
from apart.runs import lifecycle
from apart.runs.database import open_engine
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import PauseReason, RunStatus
from apart.worker.control import ControlListener
from apart.worker.jobs import advance
from apart.worker.queue import enqueue_run, queued_run_ids
from apart.worker.recovery import recover_stale_runs, requeue_orphans
from tests.helpers import run_to_end, scenario_text, submit, trajectory_of
from tests.integration.worker_support import (
    RQ,
    Processes,
    event_types,
    free_port,
    job_results,
    owner_pid,
    redis_server,
    step_counts,
    wait_for,
    worker_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

S = RunStatus
REDIS_URL = os.environ.get("APART_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
STEPS = 8
#: a step takes about 2 × 120 ms (agents in parallel, then the simulator)
TEXT = scenario_text(steps=STEPS, latency_ms=120, agents=2)
ALL_STEPS = {step: 1 for step in range(STEPS + 1)}


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The trajectory of TEXT executed in-process, uninterrupted."""
    path = tmp_path_factory.mktemp("reference") / "apart.db"
    store = SqlRunStore(open_engine(f"sqlite:///{path}"))
    assert run_to_end(store, TEXT, "reference").status == S.COMPLETED
    trajectory = trajectory_of(store, "reference")
    store.engine.dispose()
    return trajectory


@pytest.fixture
def db_url(pg_url: str, _pg_schemas: Engine) -> Iterator[str]:
    """A PostgreSQL schema of this test's own, as a URL worker processes can use."""
    schema = f"w_{secrets.token_hex(6)}"
    with _pg_schemas.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with _pg_schemas.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(db_url: str) -> Iterator[SqlRunStore]:
    engine = open_engine(db_url)
    yield SqlRunStore(engine)
    engine.dispose()


@pytest.fixture
def redis() -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def procs(tmp_path: Path, db_url: str) -> Iterator[Processes]:
    processes = Processes(tmp_path, worker_env(db_url, REDIS_URL))
    yield processes
    processes.stop_all()


def _settings(db_url: str, **fields: Any) -> Settings:
    return Settings(database_url=db_url, redis_url=REDIS_URL, heartbeat_timeout=2.0,
                    heartbeat_interval=0.5, **fields)


def _run_id(label: str) -> str:
    return f"{label}-{secrets.token_hex(4)}"


def _finished(store: SqlRunStore, *run_ids: str) -> bool:
    return all(store.get_run(r).status == S.COMPLETED for r in run_ids)


def _assert_complete_and_exact(store: SqlRunStore, run_id: str,
                               reference: list[dict[str, Any]]) -> None:
    assert store.get_run(run_id).status == S.COMPLETED
    assert step_counts(store, run_id) == ALL_STEPS  # every step exactly once
    assert trajectory_of(store, run_id) == reference


# -- a job, end to end ---------------------------------------------------------------


def test_a_job_advances_a_pending_run_to_completed_with_the_in_process_trajectory(
    store: SqlRunStore, redis: redis_lib.Redis, procs: Processes,
    reference: list[dict[str, Any]],
) -> None:
    run_id = _run_id("job")
    submit(store, TEXT, run_id)
    enqueue_run(redis, run_id)
    worker = procs.worker("--burst")
    assert worker.wait(30) == 0, procs.logs()
    _assert_complete_and_exact(store, run_id, reference)
    assert event_types(store, run_id).count("simulation_started") == 1
    assert job_results(redis) == [f"run {run_id}: completed"]


def test_a_plain_rq_worker_runs_a_job_to_completion(
    store: SqlRunStore, redis: redis_lib.Redis, procs: Processes,
    reference: list[dict[str, Any]],
) -> None:
    run_id = _run_id("rq")
    submit(store, TEXT, run_id)
    enqueue_run(redis, run_id)
    worker = procs.start(RQ, "worker", "simulations", "--burst", "--url", REDIS_URL,
                         label="rq-worker")
    assert worker.wait(30) == 0, procs.logs()
    _assert_complete_and_exact(store, run_id, reference)


def test_a_duplicate_job_for_the_same_run_executes_it_once(
    store: SqlRunStore, redis: redis_lib.Redis, procs: Processes,
    reference: list[dict[str, Any]],
) -> None:
    run_id = _run_id("dup")
    submit(store, TEXT, run_id)
    enqueue_run(redis, run_id)
    enqueue_run(redis, run_id)
    workers = [procs.worker("--burst", label=f"worker-{i}") for i in range(2)]
    for worker in workers:
        assert worker.wait(30) == 0, procs.logs()
    _assert_complete_and_exact(store, run_id, reference)
    assert event_types(store, run_id).count("simulation_started") == 1
    results = sorted(job_results(redis))
    assert results[0] == f"run {run_id}: completed"
    assert results[1].startswith(f"run {run_id}: skipped, it is ")


def test_concurrent_jobs_for_one_run_claim_it_once(
    store: SqlRunStore, redis: redis_lib.Redis, db_url: str,
    reference: list[dict[str, Any]],
) -> None:
    run_id = _run_id("race")
    submit(store, TEXT, run_id)
    settings = _settings(db_url)
    results = []
    barrier = threading.Barrier(3)

    def job() -> None:
        barrier.wait()
        results.append(advance(run_id, store, redis, settings, "test-host:1:1"))

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.executed for r in results) == [False, False, True]
    _assert_complete_and_exact(store, run_id, reference)


# -- control -------------------------------------------------------------------------


def test_a_force_pause_lands_within_a_second_while_a_30_s_call_is_in_flight(
    store: SqlRunStore, redis: redis_lib.Redis, procs: Processes,
) -> None:
    run_id = _run_id("force")
    submit(store, scenario_text(steps=3, latency_ms=30_000, agents=2), run_id)
    subscribers = _control_subscribers(redis)
    # the record is polled only every 5 s: landing within 1 s takes the Redis message
    worker = procs.worker(APART_CONTROL_POLL_INTERVAL="5", APART_HEARTBEAT_TIMEOUT="15")
    enqueue_run(redis, run_id)
    wait_for(lambda: store.get_run(run_id).status == S.RUNNING, 15, "the run to start")
    wait_for(lambda: _control_subscribers(redis) > subscribers, 5, "the control listener")
    time.sleep(0.3)  # the LLM call is well in flight
    asked = time.monotonic()
    lifecycle.request_pause(store, run_id, force=True)
    publish_control(redis, run_id, "force_pause")
    wait_for(lambda: store.get_run(run_id).status == S.PAUSED, 5, "the run to pause")
    took = time.monotonic() - asked
    assert took < 1.0, f"force pause took {took:.2f} s"
    assert store.get_run(run_id).pause_reason == PauseReason.USER_FORCE
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(10) == 0, procs.logs()


def test_the_control_listener_hears_requests_again_after_redis_restarts(
    tmp_path: Path,
) -> None:
    heard: list[str] = []
    with redis_server(free_port(), tmp_path) as server:
        client = redis_lib.Redis.from_url(server.url)
        listener = ControlListener(client, "r1", heard.append).start()
        try:
            wait_for(listener.subscribed.is_set, 5, "the subscription")
            server.kill()
            wait_for(lambda: not listener.subscribed.is_set(), 5, "the outage to be noticed")
            server.start()
            wait_for(listener.subscribed.is_set, 10, "the subscription to come back")
            publish_control(client, "other-run", "stop")
            publish_control(client, "r1", "force_pause")
            wait_for(lambda: heard, 5, "the request")
            assert heard == ["force_pause"]
        finally:
            listener.stop(wait=2)
            client.close()


def _control_subscribers(redis: redis_lib.Redis) -> int:
    channel = scoped(CONTROL, redis)
    return int(dict(redis.pubsub_numsub(channel)).get(channel.encode(), 0))


# -- workers that die or shut down ---------------------------------------------------


def test_a_worker_killed_mid_step_loses_no_step_and_another_worker_finishes_the_run(
    store: SqlRunStore, redis: redis_lib.Redis, procs: Processes,
    reference: list[dict[str, Any]],
) -> None:
    from rq import Worker

    run_id = _run_id("kill")
    submit(store, TEXT, run_id)
    workers = {w.pid: w for w in (procs.worker(label=f"worker-{i}") for i in range(2))}
    wait_for(lambda: Worker.count(connection=redis) == 2, 15, "two workers")
    enqueue_run(redis, run_id)
    run = wait_for(lambda: _at_step(store, run_id, 2), 15, "step 2 of the run")
    victim = workers.pop(owner_pid(run.owner) or -1)
    victim.send_signal(signal.SIGKILL)
    victim.wait(5)
    wait_for(lambda: _finished(store, run_id), 30, "the run to complete elsewhere")
    _assert_complete_and_exact(store, run_id, reference)
    final = store.get_run(run_id)
    assert final.recoveries == 1
    assert "simulation_interrupted" in event_types(store, run_id)
    (survivor,) = workers.values()
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(10) == 0, procs.logs()


def test_a_frozen_worker_is_fenced_out_once_its_run_moved_to_another_worker(
    store: SqlRunStore, redis: redis_lib.Redis, procs: Processes,
    reference: list[dict[str, Any]],
) -> None:
    from rq import Worker

    run_id = _run_id("zombie")
    submit(store, TEXT, run_id)
    workers = {w.pid: w for w in (procs.worker(label=f"worker-{i}") for i in range(2))}
    wait_for(lambda: Worker.count(connection=redis) == 2, 15, "two workers")
    enqueue_run(redis, run_id)
    run = wait_for(lambda: _at_step(store, run_id, 2), 15, "step 2 of the run")
    zombie = workers[owner_pid(run.owner) or -1]
    zombie.send_signal(signal.SIGSTOP)  # alive, but silent past the heartbeat timeout
    try:
        wait_for(lambda: _finished(store, run_id), 30, "the run to complete elsewhere")
    finally:
        zombie.send_signal(signal.SIGCONT)
    wait_for(lambda: b"lease lost" in _log_of(procs, zombie), 10, "the zombie to notice")
    _assert_complete_and_exact(store, run_id, reference)
    for worker in workers.values():
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(10) == 0, procs.logs()


def _log_of(procs: Processes, proc: Any) -> bytes:
    return next(path.read_bytes() for p, path in procs.started if p is proc)


def test_sigterm_gives_the_run_back_and_another_worker_finishes_it(
    store: SqlRunStore, redis: redis_lib.Redis, procs: Processes,
    reference: list[dict[str, Any]],
) -> None:
    run_id = _run_id("term")
    submit(store, TEXT, run_id)
    first = procs.worker(label="first")
    enqueue_run(redis, run_id)
    wait_for(lambda: _at_step(store, run_id, 2), 15, "step 2 of the run")
    asked = time.monotonic()
    first.send_signal(signal.SIGTERM)
    assert first.wait(10) == 0, procs.logs()
    assert time.monotonic() - asked < 3
    handed_back = store.get_run(run_id)
    assert handed_back.status == S.PENDING
    assert handed_back.recoveries == 0  # a shutdown is not a crash
    assert run_id in queued_run_ids(redis)
    types = event_types(store, run_id)
    assert types[-2:] == ["simulation_interrupted", "simulation_resumed"]
    second = procs.worker("--burst", label="second")
    assert second.wait(30) == 0, procs.logs()
    _assert_complete_and_exact(store, run_id, reference)


def _at_step(store: SqlRunStore, run_id: str, step: int) -> Any:
    run = store.get_run(run_id)
    done = run.current_step is not None and run.current_step >= step
    return run if done and run.status == S.RUNNING else None


# -- Redis restarted -----------------------------------------------------------------


def test_every_run_finishes_when_redis_restarts_mid_run(
    store: SqlRunStore, db_url: str, tmp_path: Path, reference: list[dict[str, Any]],
) -> None:
    port = 6390
    with redis_server(port, tmp_path) as server:
        procs = Processes(tmp_path, worker_env(db_url, server.url))
        client = redis_lib.Redis.from_url(server.url)
        try:
            run_ids = [_run_id(f"redis{i}") for i in range(4)]
            for run_id in run_ids:
                submit(store, TEXT, run_id)
                enqueue_run(client, run_id)
            for i in range(2):
                procs.worker(label=f"worker-{i}")
            wait_for(lambda: sum(_at_step(store, r, 1) is not None for r in run_ids) == 2,
                     15, "two runs under way")
            server.kill()  # the queued jobs are lost with it
            time.sleep(3.0)  # the runs under way end while Redis is away
            server.start()
            wait_for(lambda: _finished(store, *run_ids), 45, "every run to complete")
            for run_id in run_ids:
                _assert_complete_and_exact(store, run_id, reference)
        except BaseException:
            print(procs.logs())
            raise
        finally:
            procs.stop_all()
            client.close()


# -- the recovery sweep in-process ---------------------------------------------------


def _claimed_by_a_dead_worker(engine: Engine, run_id: str, **fields: Any) -> None:
    """Claim the run as a worker on another host that went silent a minute ago."""
    past = SqlRunStore(engine, clock=lambda: datetime.now(UTC) - timedelta(minutes=1))
    if fields:
        past.update_run(run_id, expected=[S.PENDING], action="test", **fields)
    past.claim(run_id, "elsewhere:4242:1")


def test_concurrent_reapers_requeue_a_dead_workers_run_exactly_once(
    store: SqlRunStore, redis: redis_lib.Redis, db_url: str,
) -> None:
    run_id = _run_id("reap")
    submit(store, TEXT, run_id)
    _claimed_by_a_dead_worker(store.engine, run_id)
    settings = _settings(db_url)
    barrier = threading.Barrier(4)
    results: list[list[str]] = []

    def reaper() -> None:
        barrier.wait()
        results.append(recover_stale_runs(store, redis, settings))

    threads = [threading.Thread(target=reaper) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [[], [], [], [run_id]]
    run = store.get_run(run_id)
    assert (run.status, run.recoveries) == (S.PENDING, 1)
    assert sum(_jobs_for(redis, run_id)) == 1
    types = event_types(store, run_id)
    assert types.count("simulation_interrupted") == 1
    assert types.count("simulation_resumed") == 1


def test_a_run_recovered_max_recoveries_times_stays_interrupted(
    store: SqlRunStore, redis: redis_lib.Redis, db_url: str,
) -> None:
    run_id = _run_id("tired")
    submit(store, TEXT, run_id)
    _claimed_by_a_dead_worker(store.engine, run_id, recoveries=3)
    assert recover_stale_runs(store, redis, _settings(db_url, max_recoveries=3)) == []
    assert store.get_run(run_id).status == S.INTERRUPTED
    assert queued_run_ids(redis) == set()


def test_a_dead_workers_run_with_a_pending_stop_is_stopped_not_requeued(
    store: SqlRunStore, redis: redis_lib.Redis, db_url: str,
) -> None:
    run_id = _run_id("stopping")
    submit(store, TEXT, run_id)
    _claimed_by_a_dead_worker(store.engine, run_id)
    store.update_run(run_id, expected=[S.RUNNING], action="stop", stop_requested=True)
    assert recover_stale_runs(store, redis, _settings(db_url)) == []
    assert store.get_run(run_id).status == S.STOPPED
    assert queued_run_ids(redis) == set()


def test_a_pending_run_without_a_job_is_queued_again_once(
    store: SqlRunStore, redis: redis_lib.Redis, db_url: str,
) -> None:
    past = SqlRunStore(store.engine, clock=lambda: datetime.now(UTC) - timedelta(minutes=1))
    orphan, queued, fresh = _run_id("orphan"), _run_id("queued"), _run_id("fresh")
    submit(past, TEXT, orphan)
    submit(past, TEXT, queued)
    enqueue_run(redis, queued)
    submit(store, TEXT, fresh)  # just submitted: its job may be on its way
    settings = _settings(db_url)
    assert requeue_orphans(store, redis, settings) == [orphan]
    assert requeue_orphans(store, redis, settings) == []
    assert queued_run_ids(redis) == {orphan, queued}


def _jobs_for(redis: redis_lib.Redis, run_id: str) -> list[int]:
    from rq import Queue

    from apart.worker.queue import LISTEN_ORDER

    counts = []
    for name in LISTEN_ORDER:
        queue = Queue(name, connection=redis)
        counts.append(sum(1 for job in queue.jobs if list(job.args) == [run_id]))
    return counts

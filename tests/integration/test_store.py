"""The durable run store (DESIGN §5, §7, §9), on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine

from apart.errors import InvalidRequest, InvalidTransition, LeaseLost, RunIdTaken, RunNotFound
from apart.runs import sqlstore
from apart.runs.records import LLMCallRecord, NewEvent, NewRun, RunRecord
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import TRANSITIONS, PauseReason, RunStatus

S = RunStatus


def new_run(run_id: str = "run-1", **overrides: object) -> NewRun:
    values: dict[str, object] = {
        "id": run_id,
        "scenario_name": "arms-race",
        "scenario_text": "max_steps: 3\n",
        "seed": 42,
        "max_steps": 3,
        "agent_names": ["Aster", "Boreal"],
    }
    values.update(overrides)
    return NewRun(**values)  # type: ignore[arg-type]


def ticking_clock(
    start: datetime, step: timedelta = timedelta(seconds=1)
) -> Callable[[], datetime]:
    now = [start]

    def clock() -> datetime:
        now[0] += step
        return now[0]

    return clock


def put_in(store: SqlRunStore, run_id: str, status: RunStatus) -> RunRecord:
    """A new run brought to ``status`` through allowed transitions only."""
    store.create_run(new_run(run_id))
    if status is S.PENDING:
        return store.get_run(run_id)
    if status in (S.PAUSED, S.STOPPED):
        return store.transition(run_id, status, expected=[S.PENDING], action="test")
    run = store.claim(run_id, "worker-a")
    if status is S.RUNNING:
        return run
    if status in (S.PAUSING, S.INTERRUPTED):
        return store.transition(run_id, status, expected=[S.RUNNING], action="test")
    return store.finish(run_id, run.epoch, status)


# -- creating and reading runs ---------------------------------------------------------


def test_a_new_run_is_pending_at_version_1_epoch_0_with_zero_usage(store: SqlRunStore) -> None:
    created = store.create_run(
        new_run(options={"note": "x"}, pause_at_step=2, priority="high"),
        events=[NewEvent("run_created", data={"by": "test"})],
    )
    got = store.get_run("run-1")
    assert got == created
    assert got.status is S.PENDING
    assert (got.version, got.epoch, got.current_step, got.last_event_id) == (1, 0, None, 1)
    assert got.usage == {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "calls": 0}
    assert got.agent_names == ["Aster", "Boreal"]
    assert (got.options, got.pause_at_step, got.priority) == ({"note": "x"}, 2, "high")
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)
    assert [e.event_type for e in store.events("run-1")] == ["run_created"]


def test_creating_a_run_with_a_taken_id_raises_run_id_taken(store: SqlRunStore) -> None:
    store.create_run(new_run("dup"))
    with pytest.raises(RunIdTaken, match="dup"):
        store.create_run(new_run("dup", seed=7), events=[NewEvent("run_created")])
    assert store.get_run("dup").seed == 42
    assert store.events("dup") == []


def test_an_unknown_run_raises_run_not_found_everywhere_it_must(store: SqlRunStore) -> None:
    for call in (
        lambda: store.get_run("nope"),
        lambda: store.transition("nope", S.PAUSED, expected=[S.PENDING], action="pause"),
        lambda: store.update_run("nope", expected=[S.PENDING], action="pause", pause_at_step=1),
        lambda: store.claim("nope", "w"),
        lambda: store.heartbeat("nope", 1),
        lambda: store.save_step("nope", 1, 0, {}),
        lambda: store.finish("nope", 1, S.COMPLETED),
        lambda: store.append_events("nope", [NewEvent("x")]),
        lambda: store.delete_run("nope"),
        lambda: store.record_llm_calls([llm_call("nope")]),
    ):
        with pytest.raises(RunNotFound, match="nope"):
            call()
    assert store.events("nope") == [] and store.latest_checkpoint("nope") is None


def test_times_come_back_timezone_aware_in_utc_whatever_the_clock_zone(engine: Engine) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=plus_two)
    store = SqlRunStore(engine, clock=lambda: local)
    store.create_run(new_run())
    got = store.get_run("run-1")
    assert got.created_at == local and got.created_at.tzinfo == UTC


def test_unknown_or_store_managed_fields_are_a_type_error(store: SqlRunStore) -> None:
    run = store.claim(store.create_run(new_run()).id, "w")
    with pytest.raises(TypeError, match="colour"):
        store.update_run(run.id, expected=[S.RUNNING], action="x", colour="red")
    with pytest.raises(TypeError, match="managed by the store"):
        store.update_run(run.id, expected=[S.RUNNING], action="x", version=9)
    with pytest.raises(TypeError, match="epoch"):
        store.save_step(run.id, run.epoch, 0, {}, epoch=5)
    assert store.get_run(run.id) == run


# -- listing -----------------------------------------------------------------------------


def test_list_runs_pages_newest_first_with_an_opaque_cursor(engine: Engine) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    store = SqlRunStore(engine, clock=ticking_clock(start))
    for i in range(7):
        store.create_run(new_run(f"run-{i}"))
    same_time = SqlRunStore(engine, clock=lambda: start + timedelta(days=1))
    for name in ("tie-a", "tie-b"):  # equal created_at: ordered by id, newest first
        same_time.create_run(new_run(name))

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        page, cursor = store.list_runs(limit=4, cursor=cursor)
        seen += [run.id for run in page]
        if cursor is None:
            break
    assert seen == ["tie-b", "tie-a", *[f"run-{i}" for i in reversed(range(7))]]
    assert store.list_runs(limit=9) == (store.list_runs(limit=100)[0], None)


def test_list_and_count_filter_by_status(store: SqlRunStore) -> None:
    for i in range(3):
        store.create_run(new_run(f"p{i}"))
    store.claim("p1", "w")
    assert store.count_runs() == 3
    assert store.count_runs("pending") == 2 and store.count_runs(S.RUNNING) == 1
    assert [r.id for r in store.list_runs(status="pending")[0]] == ["p2", "p0"]
    assert store.list_runs(status="completed") == ([], None)


def test_a_bad_cursor_status_or_limit_is_an_invalid_request(store: SqlRunStore) -> None:
    with pytest.raises(InvalidRequest, match="cursor"):
        store.list_runs(cursor="not a cursor!")
    with pytest.raises(InvalidRequest, match="unknown status 'sleeping'"):
        store.list_runs(status="sleeping")
    with pytest.raises(InvalidRequest, match="limit"):
        store.list_runs(limit=0)


# -- transitions -----------------------------------------------------------------------


@pytest.mark.parametrize("source", list(RunStatus), ids=str)
def test_every_transition_of_the_table_works_and_every_other_is_refused(
    store: SqlRunStore, source: RunStatus
) -> None:
    for n, target in enumerate(RunStatus):
        run_id = f"{source}-{n}"
        before = put_in(store, run_id, source)
        if target in TRANSITIONS[source]:
            after = store.transition(run_id, target, expected=[source], action="test")
            assert after.status is target and after.version == before.version + 1
            assert store.get_run(run_id) == after
        else:
            with pytest.raises(InvalidTransition, match=f"it is {source}") as caught:
                store.transition(run_id, target, expected=[source], action="test")
            assert caught.value.status == source
            assert store.get_run(run_id) == before


def test_a_transition_from_an_unexpected_status_names_the_current_status(
    store: SqlRunStore,
) -> None:
    put_in(store, "r", S.COMPLETED)
    with pytest.raises(InvalidTransition, match="cannot resume run 'r': it is completed"):
        store.transition("r", S.PENDING, expected=[S.PAUSED, S.FAILED], action="resume")


def test_transitions_write_their_fields_events_and_timestamps_atomically(
    store: SqlRunStore,
) -> None:
    store.create_run(new_run())
    paused = store.transition(
        "run-1", S.PAUSED, expected=[S.PENDING], action="pause",
        events=[NewEvent("pause_requested"), NewEvent("simulation_paused")],
        pause_reason=PauseReason.USER,
    )
    assert paused.pause_reason == "user" and paused.paused_at is not None
    assert [(e.id, e.event_type) for e in store.events("run-1")] == [
        (1, "pause_requested"), (2, "simulation_paused"),
    ]
    stopped = store.transition("run-1", S.STOPPED, expected=[S.PAUSED], action="stop")
    assert stopped.completed_at is not None and stopped.version == 3


def test_update_run_changes_control_fields_and_bumps_the_version(store: SqlRunStore) -> None:
    run = store.claim(store.create_run(new_run()).id, "w")
    updated = store.update_run(
        run.id, expected=[S.RUNNING], action="stop", stop_requested=True, pause_at_step=2
    )
    assert (updated.stop_requested, updated.pause_at_step) == (True, 2)
    assert updated.status is S.RUNNING and updated.version == run.version + 1
    with pytest.raises(InvalidTransition, match="it is running"):
        store.update_run(run.id, expected=[S.PAUSED], action="pause", pause_at_step=3)


def test_a_version_that_moved_under_a_change_is_retried_when_the_status_still_fits(
    store: SqlRunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = store.claim(store.create_run(new_run()).id, "w")
    real_row = sqlstore._row
    stale = iter([True])

    def first_read_is_stale(conn, run_id):  # type: ignore[no-untyped-def]
        row = real_row(conn, run_id)
        if next(stale, False):  # as if another writer bumped the version after our read
            return SimpleNamespace(**{**row._mapping, "version": row.version - 1})
        return row

    monkeypatch.setattr(sqlstore, "_row", first_read_is_stale)
    updated = store.update_run(run.id, expected=[S.RUNNING], action="pause", pause_at_step=2)
    assert updated.pause_at_step == 2 and updated.version == run.version + 1


def test_claim_starts_a_new_epoch_and_clears_the_last_pause(store: SqlRunStore) -> None:
    store.create_run(new_run())
    first = store.claim("run-1", "w1", events=[NewEvent("simulation_started")])
    assert (first.status, first.epoch, first.owner) == (S.RUNNING, 1, "w1")
    assert first.started_at is not None and first.heartbeat_at is not None
    store.update_run("run-1", expected=[S.RUNNING], action="pause", pause_request="force")
    store.finish("run-1", 1, S.PAUSED, pause_reason="user_force", error="late")
    store.transition("run-1", S.PENDING, expected=[S.PAUSED], action="resume")
    second = store.claim("run-1", "w2")
    assert (second.epoch, second.owner, second.started_at) == (2, "w2", first.started_at)
    assert (second.pause_request, second.pause_reason, second.error) == (None, None, None)
    assert second.paused_at is None and second.stop_requested is False


def test_claim_of_a_run_that_is_not_pending_names_its_status(store: SqlRunStore) -> None:
    put_in(store, "r", S.PAUSED)
    with pytest.raises(InvalidTransition, match="cannot claim run 'r': it is paused"):
        store.claim("r", "w")


# -- the executing process: heartbeat, save_step, finish --------------------------------


def test_save_step_writes_the_run_checkpoint_and_events_together(store: SqlRunStore) -> None:
    run = store.claim(store.create_run(new_run()).id, "w", events=[NewEvent("simulation_started")])
    usage = {"input_tokens": 10, "output_tokens": 5, "cost_usd": 0.25, "calls": 3}
    saved = store.save_step(
        run.id, run.epoch, 0, {"step": 0, "vars": {"x": 1.5}},
        events=[NewEvent("step_completed", 0, {"x": 1.5}), NewEvent("llm_call", 0)],
        usage=usage, danger_count=1,
    )
    assert (saved.current_step, saved.usage, saved.danger_count) == (0, usage, 1)
    assert saved.version == run.version  # steps are not control changes
    checkpoint = store.latest_checkpoint(run.id)
    assert checkpoint is not None and checkpoint.data == {"step": 0, "vars": {"x": 1.5}}
    assert [e.event_type for e in store.events(run.id)] == [
        "simulation_started", "step_completed", "llm_call",
    ]
    assert store.events(run.id)[1].data == {"x": 1.5} and store.events(run.id)[1].step == 0


def test_a_failing_save_step_writes_nothing(store: SqlRunStore) -> None:
    run = store.claim(store.create_run(new_run()).id, "w")
    store.save_step(run.id, run.epoch, 0, {"step": 0})
    with pytest.raises(Exception, match="serializ"):
        store.save_step(
            run.id, run.epoch, 1, {"step": 1},
            events=[NewEvent("bad", 1, {"not json": object()})], danger_count=3,
        )
    after = store.get_run(run.id)
    assert (after.current_step, after.danger_count, after.last_event_id) == (0, 0, 0)
    assert [c.step for c in store.checkpoints(run.id)] == [0]


def test_saving_a_step_again_replaces_its_checkpoint(store: SqlRunStore) -> None:
    run = store.claim(store.create_run(new_run()).id, "w")
    for step in range(4):
        store.save_step(run.id, run.epoch, step, {"step": step, "try": 1})
    store.save_step(run.id, run.epoch, 2, {"step": 2, "try": 2})
    assert [(c.step, c.data["try"]) for c in store.checkpoints(run.id)] == [
        (0, 1), (1, 1), (2, 2), (3, 1),
    ]
    assert [c.step for c in store.checkpoints(run.id, from_step=1, to_step=2)] == [1, 2]
    assert [c.step for c in store.checkpoints(run.id, from_step=3)] == [3]
    latest = store.latest_checkpoint(run.id)
    assert latest is not None and latest.step == 3


def test_a_stale_epoch_cannot_heartbeat_save_or_finish_and_writes_nothing(
    store: SqlRunStore,
) -> None:
    store.create_run(new_run())
    zombie = store.claim("run-1", "w1")
    store.save_step("run-1", zombie.epoch, 0, {"step": 0}, events=[NewEvent("step_completed")])
    store.transition("run-1", S.INTERRUPTED, expected=[S.RUNNING], action="interrupt")
    store.transition("run-1", S.PENDING, expected=[S.INTERRUPTED], action="resume")
    owner = store.claim("run-1", "w2")
    assert owner.epoch == zombie.epoch + 1
    before = store.get_run("run-1")

    with pytest.raises(LeaseLost, match="epoch 1 is stale"):
        store.heartbeat("run-1", zombie.epoch)
    with pytest.raises(LeaseLost):
        store.save_step("run-1", zombie.epoch, 1, {"step": 1}, events=[NewEvent("x")],
                        danger_count=9)
    with pytest.raises(LeaseLost):
        store.finish("run-1", zombie.epoch, S.COMPLETED, events=[NewEvent("x")])

    assert store.get_run("run-1") == before
    assert [c.step for c in store.checkpoints("run-1")] == [0]
    assert len(store.events("run-1")) == before.last_event_id
    assert store.heartbeat("run-1", owner.epoch).heartbeat_at is not None


def test_a_run_interrupted_under_its_owner_refuses_the_owners_writes(store: SqlRunStore) -> None:
    run = store.claim(store.create_run(new_run()).id, "w")
    store.transition(run.id, S.INTERRUPTED, expected=[S.RUNNING], action="interrupt")
    with pytest.raises(LeaseLost):
        store.save_step(run.id, run.epoch, 0, {})
    with pytest.raises(LeaseLost):
        store.heartbeat(run.id, run.epoch)
    with pytest.raises(LeaseLost):
        store.finish(run.id, run.epoch, S.COMPLETED)
    assert store.latest_checkpoint(run.id) is None


def test_heartbeat_refreshes_the_lease_without_bumping_the_version(engine: Engine) -> None:
    store = SqlRunStore(engine, clock=ticking_clock(datetime(2025, 1, 1, tzinfo=UTC)))
    run = store.claim(store.create_run(new_run()).id, "w")
    beat = store.heartbeat(run.id, run.epoch)
    assert run.heartbeat_at is not None and beat.heartbeat_at is not None
    assert beat.heartbeat_at > run.heartbeat_at and beat.version == run.version


def test_finish_moves_an_active_run_to_its_end_status_with_its_fields(store: SqlRunStore) -> None:
    run = store.claim(store.create_run(new_run()).id, "w")
    store.transition(run.id, S.PAUSING, expected=[S.RUNNING], action="pause",
                     pause_request="graceful")
    done = store.finish(run.id, run.epoch, S.PAUSED, events=[NewEvent("simulation_paused")],
                        pause_reason="user", pause_request=None, owner=None)
    assert (done.status, done.pause_reason, done.pause_request, done.owner) == (
        S.PAUSED, "user", None, None,
    )
    assert done.paused_at is not None and store.events(run.id)[-1].id == done.last_event_id


def test_finish_to_a_status_the_table_forbids_is_an_invalid_transition(
    store: SqlRunStore,
) -> None:
    run = store.claim(store.create_run(new_run()).id, "w")
    with pytest.raises(InvalidTransition, match="it is running"):
        store.finish(run.id, run.epoch, S.PENDING)
    assert store.get_run(run.id).status is S.RUNNING


# -- events ------------------------------------------------------------------------------


def test_event_ids_run_from_1_without_gaps_across_transactions(store: SqlRunStore) -> None:
    store.create_run(new_run(), events=[NewEvent("run_created")])
    run = store.claim("run-1", "w", events=[NewEvent("simulation_started")])
    for step in range(3):
        store.save_step(run.id, run.epoch, step, {"step": step},
                        events=[NewEvent("step_started", step), NewEvent("step_completed", step)])
    appended = store.append_events(run.id, [NewEvent("pause_requested"), NewEvent("note")])
    store.heartbeat(run.id, run.epoch)
    done = store.finish(run.id, run.epoch, S.COMPLETED, events=[NewEvent("simulation_completed")])

    events = store.events(run.id)
    assert [e.id for e in events] == list(range(1, 12)) and done.last_event_id == 11
    assert [e.id for e in appended] == [9, 10] and appended == events[8:10]
    assert [e.id for e in store.events(run.id, after_id=4, limit=3)] == [5, 6, 7]
    assert store.events(run.id, after_id=11) == []
    assert all(e.run_id == "run-1" and e.timestamp.tzinfo is not None for e in events)


def test_append_events_works_on_a_run_in_any_status_and_keeps_given_timestamps(
    store: SqlRunStore,
) -> None:
    put_in(store, "r", S.COMPLETED)
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    [event] = store.append_events("r", [NewEvent("exported", None, {"to": "x.json"}, when)])
    assert event.timestamp == when and store.events("r") == [event]
    assert event.envelope()["timestamp"] == "2024-05-06T07:08:09+00:00"


# -- LLM calls and deletion --------------------------------------------------------------


def llm_call(run_id: str, step: int = 0, role: str = "Aster") -> LLMCallRecord:
    return LLMCallRecord(
        run_id=run_id, step=step, role_name=role, attempt=1, provider="scripted",
        model="scripted-v1", prompt_hash="abc", response_text="ok", input_tokens=10,
        output_tokens=3, latency_ms=1.5, cost_usd=0.001, epoch=1,
    )


def test_llm_calls_are_recorded_in_bulk_and_read_back_in_order(store: SqlRunStore) -> None:
    store.create_run(new_run())
    calls = [llm_call("run-1", step, role) for step in range(2) for role in ("Aster", "sim")]
    store.record_llm_calls(calls)
    store.record_llm_calls([])
    got = store.llm_calls("run-1")
    assert [(c.step, c.role_name) for c in got] == [(c.step, c.role_name) for c in calls]
    assert all(c.created_at is not None for c in got)
    assert [c.__dict__ | {"created_at": None} for c in got] == [c.__dict__ for c in calls]


def test_delete_refuses_an_active_run_and_removes_everything_otherwise(
    store: SqlRunStore,
) -> None:
    run = store.claim(store.create_run(new_run(), events=[NewEvent("run_created")]).id, "w")
    store.save_step(run.id, run.epoch, 0, {"step": 0}, events=[NewEvent("step_completed")])
    store.record_llm_calls([llm_call(run.id)])
    for status in (S.RUNNING, S.PAUSING):
        if status is S.PAUSING:
            store.transition(run.id, S.PAUSING, expected=[S.RUNNING], action="pause")
        with pytest.raises(InvalidTransition, match=f"it is {status}; pause or stop it first"):
            store.delete_run(run.id)
    store.finish(run.id, run.epoch, S.PAUSED)
    store.create_run(new_run("other"), events=[NewEvent("run_created")])

    store.delete_run(run.id)
    with pytest.raises(RunNotFound):
        store.get_run(run.id)
    assert store.events(run.id) == [] and store.checkpoints(run.id) == []
    assert store.llm_calls(run.id) == []
    assert len(store.events("other")) == 1  # other runs untouched
    store.create_run(new_run(run.id))  # the id is free again
    assert store.events(run.id) == [] and store.get_run(run.id).last_event_id == 0

"""Events reach the live sink only after their transaction committed."""

from __future__ import annotations

from pathlib import Path

from apart.runs.database import open_engine
from apart.runs.records import EventRecord, NewEvent, NewRun
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import RunStatus


def test_committed_events_are_handed_to_the_sink_once(tmp_path: Path) -> None:
    seen: list[EventRecord] = []
    store = SqlRunStore(open_engine(f"sqlite:///{tmp_path / 'a.db'}"), on_events=seen.extend)
    store.create_run(NewRun(id="r", scenario_name="s", scenario_text="x", seed=1, max_steps=2,
                            agent_names=["A"]), events=[NewEvent("simulation_started")])
    run = store.claim("r", "me")
    store.save_step("r", run.epoch, 0, {"state": {}}, events=[NewEvent("step_completed", 0)])
    assert [(e.id, e.event_type) for e in seen] == [(1, "simulation_started"),
                                                     (2, "step_completed")]


def test_a_rolled_back_write_hands_nothing_to_the_sink(tmp_path: Path) -> None:
    seen: list[EventRecord] = []
    store = SqlRunStore(open_engine(f"sqlite:///{tmp_path / 'a.db'}"), on_events=seen.extend)
    store.create_run(NewRun(id="r", scenario_name="s", scenario_text="x", seed=1, max_steps=2,
                            agent_names=["A"]))
    try:
        store.save_step("r", 99, 0, {}, events=[NewEvent("step_completed", 0)])
    except Exception:
        pass
    assert seen == []
    assert store.get_run("r").status == RunStatus.PENDING

"""DESIGN §2, promise 1: a run paused (graceful or force) and resumed any number of
times ends with exactly the trajectory of an uninterrupted run."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apart.runs import lifecycle
from apart.runs.database import open_engine
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import RunStatus
from apart.sim.engine import LiveEvent
from tests.helpers import execute, run_to_end, scenario_text, submit, trajectory_of

STEPS = 4
TEXT = scenario_text(steps=STEPS, latency_ms=3)

# where a pause is asked for: before a step starts, once the agents answered
# (the simulator call is in flight), or once a step completed
POINTS = ("step_started", "agent_response_received", "step_completed")
pause_point = st.tuples(
    st.sampled_from(POINTS),
    st.integers(min_value=0, max_value=STEPS),
    st.sampled_from(("graceful", "force")),
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqlRunStore:
    path: Path = tmp_path_factory.mktemp("exact") / "apart.db"
    return SqlRunStore(open_engine(f"sqlite:///{path}"))


@pytest.fixture(scope="module")
def reference(store: SqlRunStore) -> list[dict[str, object]]:
    final = run_to_end(store, TEXT, "reference")
    assert final.status == RunStatus.COMPLETED
    return trajectory_of(store, "reference")


def _pauser(store: SqlRunStore, run_id: str, point: tuple[str, int, str]):
    kind, step, mode = point
    fired = []

    def on_event(event: LiveEvent) -> None:
        if fired or event.event_type != kind or event.step != step:
            return
        fired.append(True)
        try:
            lifecycle.request_pause(store, run_id, force=mode == "force")
        except Exception:  # the run may already be ending: that is allowed
            pass

    return on_event


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=st.lists(pause_point, min_size=1, max_size=4))
def test_pausing_anywhere_and_resuming_reproduces_the_uninterrupted_run(
    store: SqlRunStore, reference: list[dict[str, object]], points: list[tuple[str, int, str]]
) -> None:
    run_id = f"p-{uuid.uuid4().hex[:12]}"
    submit(store, TEXT, run_id)
    record = execute(store, run_id, on_event=_pauser(store, run_id, points[0]))
    for point in points[1:]:
        if record.status != RunStatus.PAUSED:
            break
        lifecycle.request_resume(store, run_id)
        record = execute(store, run_id, on_event=_pauser(store, run_id, point))
    while record.status == RunStatus.PAUSED:
        lifecycle.request_resume(store, run_id)
        record = execute(store, run_id)
    assert record.status == RunStatus.COMPLETED
    assert trajectory_of(store, run_id) == reference
    completed = [e.step for e in store.events(run_id) if e.event_type == "step_completed"]
    assert completed == list(range(STEPS + 1)), "every step is recorded exactly once"

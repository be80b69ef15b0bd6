"""Replay reproduces a recorded run with no provider call; a rerun step is not paid twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from apart.errors import InvalidRequest
from apart.llm.base import Completion, LLMRequest
from apart.llm.scripted import ScriptedProvider
from apart.runs import lifecycle
from apart.runs.database import open_engine
from apart.runs.executor import RunExecutor
from apart.runs.records import NewRun
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import RunStatus
from tests.helpers import FAST, execute, run_to_end, scenario_text, submit, trajectory_of


@pytest.fixture
def store(tmp_path: Path) -> SqlRunStore:
    return SqlRunStore(open_engine(f"sqlite:///{tmp_path / 'apart.db'}"))


class Counting:
    """The scripted provider, counting the calls that really reach it."""

    name = "scripted"

    def __init__(self, calls: Counter[tuple[int, str]], latency_ms: int = 0) -> None:
        self.calls = calls
        self.inner = ScriptedProvider(latency_ms=latency_ms)

    async def complete(self, request: LLMRequest) -> Completion:
        self.calls[(request.context.step, request.context.role_name)] += 1
        return await self.inner.complete(request)


def _play(store: SqlRunStore, run_id: str, calls: Counter[tuple[int, str]],
          latency_ms: int = 0, on_event=None) -> RunStatus:  # type: ignore[no-untyped-def]
    executor = RunExecutor(store, run_id, lambda cfg, o: Counting(calls, latency_ms),
                           options=FAST, on_event=on_event)
    return asyncio.run(executor.execute("test-host:1:1")).status


def test_a_replay_reproduces_the_trajectory_without_calling_any_provider(
    store: SqlRunStore,
) -> None:
    run_to_end(store, scenario_text(steps=3), "source")
    replay = lifecycle.submit_replay(store, "source", "copy")
    calls: Counter[tuple[int, str]] = Counter()
    assert _play(store, replay.id, calls) == RunStatus.COMPLETED
    assert sum(calls.values()) == 0
    assert trajectory_of(store, "copy") == trajectory_of(store, "source")
    assert store.llm_calls("copy") == []


def test_a_replay_that_leaves_the_recording_fails_with_the_reason(store: SqlRunStore) -> None:
    run_to_end(store, scenario_text(steps=2), "source")
    other = scenario_text(steps=2).replace("AI labs racing", "AI labs cooperating")
    store.create_run(NewRun(id="changed", scenario_name="x", scenario_text=other, seed=11,
                            max_steps=2, agent_names=["Aster"],
                            options={"replay_of": "source"}))
    final = execute(store, "changed")
    assert final.status == RunStatus.FAILED
    assert "no recorded call" in (final.error or "")


def test_a_run_without_recorded_calls_cannot_be_replayed(store: SqlRunStore) -> None:
    submit(store, scenario_text(), "never-ran")
    with pytest.raises(InvalidRequest, match="no saved steps"):
        lifecycle.submit_replay(store, "never-ran")


def test_calls_made_in_a_force_paused_step_are_reused_not_paid_twice(
    store: SqlRunStore,
) -> None:
    text = scenario_text(steps=3, latency_ms=0)
    run_to_end(store, text, "ref")
    submit(store, text, "p")
    calls: Counter[tuple[int, str]] = Counter()

    def force_while_the_simulator_thinks(event) -> None:  # type: ignore[no-untyped-def]
        if event.event_type == "agent_response_received" and event.step == 2:
            lifecycle.request_pause(store, "p", force=True)

    status = _play(store, "p", calls, latency_ms=200, on_event=force_while_the_simulator_thinks)
    assert status == RunStatus.PAUSED
    assert store.get_run("p").current_step == 1
    lifecycle.request_resume(store, "p")
    assert _play(store, "p", calls, latency_ms=200) == RunStatus.COMPLETED
    agents_at_step_2 = {k: n for k, n in calls.items() if k[0] == 2 and k[1] != "simulator"}
    assert agents_at_step_2 and set(agents_at_step_2.values()) == {1}
    assert trajectory_of(store, "p") == trajectory_of(store, "ref")


def test_a_replay_of_a_paused_run_stops_where_its_recording_ends(store: SqlRunStore) -> None:
    run_to_end(store, scenario_text(steps=4), "half", pause_at_step=2)
    replay = lifecycle.submit_replay(store, "half", "half-copy")
    final = execute(store, replay.id)
    assert final.status == RunStatus.PAUSED and final.current_step == 2
    assert trajectory_of(store, "half-copy") == trajectory_of(store, "half")

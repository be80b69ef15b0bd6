"""A scenario in, a trajectory out; pause, resume and failure as a user sees them."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from apart.errors import InvalidRequest, InvalidTransition, RunIdTaken, ScenarioError
from apart.runs import lifecycle
from apart.runs.database import open_engine
from apart.runs.executor import RunExecutor
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import RunStatus
from apart.sim.engine import LiveEvent
from tests.helpers import (
    FAST,
    execute,
    resolver,
    run_to_end,
    scenario_text,
    submit,
    trajectory_of,
)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> SqlRunStore:
    return SqlRunStore(open_engine(f"sqlite:///{tmp_path / 'apart.db'}"))


def test_a_run_plays_step_zero_and_every_step_and_completes(sqlite_store: SqlRunStore) -> None:
    final = run_to_end(sqlite_store, scenario_text(steps=4), "r1")
    assert final.status == RunStatus.COMPLETED
    assert final.current_step == 4
    steps = trajectory_of(sqlite_store, "r1")
    assert [s["step"] for s in steps] == [0, 1, 2, 3, 4]
    for snap in steps:
        assert set(snap["global_vars"]) == {"tension", "trust", "treaty", "stage", "headlines",
                                            "prices"}
        assert set(snap["agent_vars"]) == {"Aster", "Boreal", "Cinder", "Board"}
        for variables in snap["agent_vars"].values():
            assert set(variables) == {"capability", "safety"}
            assert 0 <= variables["capability"] <= 100
        told = [m for m in snap["messages"] if m["from"] == "simulator"]
        assert {m["to"] for m in told} == {"Aster", "Boreal", "Cinder", "Board"}
    answers = [m for m in steps[1]["messages"] if m["to"] == "simulator"]
    board = next(m for m in answers if m["from"] == "Board")
    assert board["content"] == "The board reviews step 1 and waits."


def test_the_same_seed_gives_the_same_trajectory(sqlite_store: SqlRunStore) -> None:
    run_to_end(sqlite_store, scenario_text(), "a")
    run_to_end(sqlite_store, scenario_text(), "b")
    assert trajectory_of(sqlite_store, "a") == trajectory_of(sqlite_store, "b")


def test_a_different_seed_gives_a_different_trajectory(sqlite_store: SqlRunStore) -> None:
    run_to_end(sqlite_store, scenario_text(), "a", seed=1)
    run_to_end(sqlite_store, scenario_text(), "b", seed=2)
    assert trajectory_of(sqlite_store, "a") != trajectory_of(sqlite_store, "b")


def test_step_events_are_stored_once_per_step(sqlite_store: SqlRunStore) -> None:
    run_to_end(sqlite_store, scenario_text(steps=3), "r")
    events = sqlite_store.events("r")
    kinds = [e.event_type for e in events]
    assert kinds[0] == "simulation_started"
    assert kinds[-1] == "simulation_completed"
    assert [e.step for e in events if e.event_type == "step_completed"] == [0, 1, 2, 3]
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert any(e.event_type == "llm_call" for e in events)


def test_a_graceful_pause_lands_at_the_end_of_the_step_and_resume_matches(
    sqlite_store: SqlRunStore,
) -> None:
    text = scenario_text(steps=5)
    run_to_end(sqlite_store, text, "ref")
    submit(sqlite_store, text, "p")

    def pause_after_step_two(event: LiveEvent) -> None:
        if event.event_type == "agent_response_received" and event.step == 2:
            lifecycle.request_pause(sqlite_store, "p")

    paused = execute(sqlite_store, "p", on_event=pause_after_step_two)
    assert paused.status == RunStatus.PAUSED
    assert paused.pause_reason == "user"
    assert paused.current_step == 2
    lifecycle.request_resume(sqlite_store, "p")
    final = execute(sqlite_store, "p")
    assert final.status == RunStatus.COMPLETED
    assert trajectory_of(sqlite_store, "p") == trajectory_of(sqlite_store, "ref")


def test_a_force_pause_discards_the_partial_step_quickly(sqlite_store: SqlRunStore) -> None:
    submit(sqlite_store, scenario_text(steps=3, latency_ms=30_000), "slow")
    started: list[float] = []

    def force_when_calls_are_in_flight(event: LiveEvent) -> None:
        if event.event_type == "step_started" and event.step == 0:
            loop = asyncio.get_running_loop()
            started.append(loop.time())
            loop.call_later(0.2, lambda: lifecycle.request_pause(sqlite_store, "slow", force=True))

    async def play() -> tuple[float, object]:
        executor = RunExecutor(sqlite_store, "slow", resolver(), options=FAST,
                               on_event=force_when_calls_are_in_flight)
        record = await executor.execute("test-host:1:1")
        return asyncio.get_running_loop().time(), record

    ended, record = asyncio.run(play())
    assert record.status == RunStatus.PAUSED  # type: ignore[attr-defined]
    assert record.pause_reason == "user_force"  # type: ignore[attr-defined]
    assert record.current_step is None  # type: ignore[attr-defined]
    assert ended - started[0] < 1.2
    assert sqlite_store.latest_checkpoint("slow") is None


def test_pause_at_step_pauses_after_that_step(sqlite_store: SqlRunStore) -> None:
    final = run_to_end(sqlite_store, scenario_text(steps=5), "r", pause_at_step=3)
    assert final.status == RunStatus.PAUSED
    assert final.pause_reason == "at_step"
    assert final.current_step == 3


def test_a_pause_requested_on_the_last_step_ends_completed(sqlite_store: SqlRunStore) -> None:
    submit(sqlite_store, scenario_text(steps=2), "r")

    def pause_on_last(event: LiveEvent) -> None:
        if event.event_type == "agent_response_received" and event.step == 2:
            lifecycle.request_pause(sqlite_store, "r")

    assert execute(sqlite_store, "r", on_event=pause_on_last).status == RunStatus.COMPLETED


def test_a_simulator_that_keeps_returning_invalid_json_fails_the_run_with_a_reason(
    sqlite_store: SqlRunStore,
) -> None:
    final = run_to_end(sqlite_store, scenario_text(model="scripted-invalid"), "bad")
    assert final.status == RunStatus.FAILED
    assert "after 3 attempts" in (final.error or "")
    events = [e.event_type for e in sqlite_store.events("bad")]
    assert events[-1] == "simulation_failed"
    # the failed run is still there and can be resumed (it fails again, cleanly)
    lifecycle.request_resume(sqlite_store, "bad")
    assert execute(sqlite_store, "bad").status == RunStatus.FAILED


def test_a_simulator_that_fails_once_is_retried_with_the_error_fed_back(
    sqlite_store: SqlRunStore,
) -> None:
    final = run_to_end(sqlite_store, scenario_text(model="scripted-flaky", steps=2), "flaky")
    assert final.status == RunStatus.COMPLETED
    calls = sqlite_store.llm_calls("flaky")
    assert {c.attempt for c in calls if c.role_name == "simulator"} == {1, 2}


def test_two_resumes_at_once_start_the_run_exactly_once(sqlite_store: SqlRunStore) -> None:
    text = scenario_text(steps=3)
    submit(sqlite_store, text, "r", pause_at_step=1)
    execute(sqlite_store, "r")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def resume() -> None:
        barrier.wait()
        try:
            lifecycle.request_resume(sqlite_store, "r")
            execute(sqlite_store, "r")
            outcomes.append("ran")
        except InvalidTransition as exc:
            outcomes.append(f"refused: {exc.status}")

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[0] == "ran" and outcomes.count("ran") == 1
    steps = [e.step for e in sqlite_store.events("r") if e.event_type == "step_completed"]
    assert steps == [0, 1, 2, 3]


def test_bad_requests_are_refused_with_the_reason(sqlite_store: SqlRunStore) -> None:
    run_to_end(sqlite_store, scenario_text(steps=1), "done")
    with pytest.raises(InvalidTransition, match="completed"):
        lifecycle.request_pause(sqlite_store, "done")
    with pytest.raises(InvalidTransition, match="completed"):
        lifecycle.request_resume(sqlite_store, "done")
    with pytest.raises(RunIdTaken):
        submit(sqlite_store, scenario_text(), "done")
    with pytest.raises(InvalidRequest, match="run id"):
        submit(sqlite_store, scenario_text(), "../etc")
    with pytest.raises(ScenarioError):
        submit(sqlite_store, "max_steps: [", "broken")
    assert sqlite_store.count_runs() == 1


def test_a_released_run_ends_interrupted_and_resumes_exactly(sqlite_store: SqlRunStore) -> None:
    text = scenario_text(steps=4, latency_ms=5)
    run_to_end(sqlite_store, text, "ref")
    submit(sqlite_store, text, "rel")
    executors: list[RunExecutor] = []

    def release_mid_step_two(event: LiveEvent) -> None:
        if event.event_type == "agent_response_received" and event.step == 2:
            executors[0].release()

    record = execute(sqlite_store, "rel", on_event=release_mid_step_two,
                     executor_hook=executors.append)
    assert record.status == RunStatus.INTERRUPTED
    assert record.current_step == 1
    lifecycle.request_resume(sqlite_store, "rel")
    assert execute(sqlite_store, "rel").status == RunStatus.COMPLETED
    assert trajectory_of(sqlite_store, "rel") == trajectory_of(sqlite_store, "ref")


def test_a_run_whose_provider_is_missing_here_fails_with_the_reason(
    sqlite_store: SqlRunStore,
) -> None:
    from apart.runs.records import NewRun

    text = scenario_text(steps=2).replace("provider: scripted\n", "provider: gemini\n", 1)
    sqlite_store.create_run(NewRun(id="g", scenario_name="g", scenario_text=text, seed=1,
                                   max_steps=2, agent_names=["Aster"]))
    final = execute(sqlite_store, "g")
    assert final.status == RunStatus.FAILED
    assert "gemini" in (final.error or "")
    assert [e.event_type for e in sqlite_store.events("g")][-1] == "simulation_failed"


def test_an_agents_think_block_is_kept_in_the_record_but_not_in_its_answer(
    sqlite_store: SqlRunStore,
) -> None:
    from apart.llm.base import Completion, LLMRequest
    from apart.llm.scripted import ScriptedProvider

    class Thinker:
        name = "scripted"

        async def complete(self, request: LLMRequest) -> Completion:
            done = await ScriptedProvider().complete(request)
            if request.context.role == "agent":
                return Completion(text="<think>weigh the options</think>" + done.text,
                                  model=done.model)
            return done

    submit(sqlite_store, scenario_text(steps=1, agents=1), "think")
    executor = RunExecutor(sqlite_store, "think", lambda cfg, o: Thinker(), options=FAST)
    assert asyncio.run(executor.execute("test-host:1:1")).status == RunStatus.COMPLETED
    answers = [m["content"] for m in trajectory_of(sqlite_store, "think")[1]["messages"]
               if m["from"] == "Aster"]
    assert answers and "think" not in answers[0]
    raw = [c.response_text for c in sqlite_store.llm_calls("think") if c.role_name == "Aster"]
    assert raw[0].startswith("<think>weigh the options</think>")


def test_usage_and_cost_are_counted_per_call_step_role_and_run(
    sqlite_store: SqlRunStore,
) -> None:
    from apart.llm.base import Completion, LLMRequest
    from apart.llm.scripted import ScriptedProvider

    class PricedVendor:
        name = "openai"

        async def complete(self, request: LLMRequest) -> Completion:
            done = await ScriptedProvider().complete(request)
            return Completion(text=done.text, model="gpt-4o", input_tokens=1000,
                              output_tokens=100)

    submit(sqlite_store, scenario_text(steps=2, agents=1), "paid")
    executor = RunExecutor(sqlite_store, "paid", lambda cfg, o: PricedVendor(), options=FAST)
    run = asyncio.run(executor.execute("test-host:1:1"))
    per_call = (1000 * 2.5 + 100 * 10.0) / 1e6
    calls = sqlite_store.llm_calls("paid")
    assert [round(c.cost_usd, 10) for c in calls] == [round(per_call, 10)] * len(calls)
    assert run.usage["calls"] == len(calls) == 5  # step 0: 1; steps 1-2: 1 agent + simulator
    assert run.usage["cost_usd"] == pytest.approx(per_call * 5)
    assert run.usage["by_role"]["Aster"]["calls"] == 2
    steps = [e.data["usage"] for e in sqlite_store.events("paid")
             if e.event_type == "step_completed"]
    assert [s["calls"] for s in steps] == [1, 2, 2]
    assert sum(s["cost_usd"] for s in steps) == pytest.approx(per_call * 5)

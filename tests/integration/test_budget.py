"""A budget pauses a run before it is exceeded; raising it lets the run go on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from apart.errors import InvalidRequest
from apart.llm.base import Completion, LLMRequest
from apart.llm.scripted import ScriptedProvider
from apart.runs import lifecycle
from apart.runs.database import open_engine
from apart.runs.executor import RunExecutor
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import RunStatus
from tests.helpers import FAST, run_to_end, scenario_text, submit, trajectory_of

PER_CALL = (1000 * 2.5 + 100 * 10.0) / 1e6  # gpt-4o list price, 1000 in + 100 out


class PricedVendor:
    name = "openai"

    async def complete(self, request: LLMRequest) -> Completion:
        done = await ScriptedProvider().complete(request)
        return Completion(text=done.text, model="gpt-4o", input_tokens=1000, output_tokens=100)


@pytest.fixture
def store(tmp_path: Path) -> SqlRunStore:
    return SqlRunStore(open_engine(f"sqlite:///{tmp_path / 'apart.db'}"))


def _play(store: SqlRunStore, run_id: str) -> object:
    executor = RunExecutor(store, run_id, lambda cfg, o: PricedVendor(), options=FAST)
    return asyncio.run(executor.execute("test-host:1:1"))


def test_a_run_pauses_before_a_step_would_exceed_its_budget_and_resumes_when_raised(
    store: SqlRunStore,
) -> None:
    text = scenario_text(steps=4, agents=1)
    submit(store, text, "ref")
    _play(store, "ref")
    # step 0 costs 1 call, each later step 2: after step 1 the run has spent 3 calls,
    # and step 2 would bring it to 5 > 4.5
    submit(store, text, "b", budget={"max_usd": PER_CALL * 4.5})
    paused = _play(store, "b")
    assert paused.status == RunStatus.PAUSED  # type: ignore[attr-defined]
    assert paused.pause_reason == "budget"  # type: ignore[attr-defined]
    assert paused.current_step == 1  # type: ignore[attr-defined]
    assert "--budget-usd" in (paused.error or "")  # type: ignore[attr-defined]
    kinds = [e.event_type for e in store.events("b")]
    assert kinds[-2:] == ["budget_exceeded", "simulation_paused"]
    assert _play_after_resume(store, "b", budget_usd=1.0) == RunStatus.COMPLETED
    assert trajectory_of(store, "b") == trajectory_of(store, "ref")


def _play_after_resume(store: SqlRunStore, run_id: str, **raise_by: float) -> RunStatus:
    lifecycle.request_resume(store, run_id, **raise_by)  # type: ignore[arg-type]
    return _play(store, run_id).status  # type: ignore[attr-defined, no-any-return]


def test_resuming_without_raising_the_budget_pauses_again_at_once(store: SqlRunStore) -> None:
    submit(store, scenario_text(steps=3, agents=1), "b", budget={"max_tokens": 3500})
    assert _play(store, "b").pause_reason == "budget"  # type: ignore[attr-defined]
    assert _play_after_resume(store, "b") == RunStatus.PAUSED
    assert _play_after_resume(store, "b", budget_tokens=10**6) == RunStatus.COMPLETED


def test_a_free_provider_never_hits_a_usd_budget(store: SqlRunStore) -> None:
    final = run_to_end(store, scenario_text(steps=2), "free", budget={"max_usd": 0.0001})
    assert final.status == RunStatus.COMPLETED


def test_a_negative_budget_is_refused(store: SqlRunStore) -> None:
    with pytest.raises(InvalidRequest, match="negative"):
        submit(store, scenario_text(), "neg", budget={"max_usd": -1})


def test_a_budget_given_at_submission_adds_to_the_scenarios_own(store: SqlRunStore) -> None:
    text = scenario_text(steps=2) + "budget: {max_tokens: 100000}\n"
    run = submit(store, text, "both", budget={"max_usd": 2.0})
    assert run.options["budget"] == {"max_tokens": 100000, "max_usd": 2.0}


def test_a_paid_call_is_recorded_as_soon_as_it_completes(store: SqlRunStore) -> None:
    submit(store, scenario_text(steps=3, agents=1), "r")
    seen: list[int] = []

    def count_agent_calls(event) -> None:  # type: ignore[no-untyped-def]
        if (event.event_type, event.step, event.data.get("agent")) == (
                "agent_response_received", 2, "Aster"):
            seen.append(sum(1 for c in store.llm_calls("r")
                            if c.step == 2 and c.role_name == "Aster"))

    executor = RunExecutor(store, "r", lambda cfg, o: PricedVendor(), options=FAST,
                           on_event=count_agent_calls)
    assert asyncio.run(executor.execute("test-host:1:1")).status == RunStatus.COMPLETED
    assert seen == [1]  # in the store while the step is still in progress
    assert len([c for c in store.llm_calls("r") if c.role_name == "Aster"]) == 3

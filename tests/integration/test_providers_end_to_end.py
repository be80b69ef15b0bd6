"""A scenario naming each vendor runs end to end against its local stand-in, in
process, through the vendor's official SDK; a quota that runs out mid-run pauses
the run (reason ``quota``), and the run resumes to completion once it recovers."""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from apart.runs import lifecycle
from apart.runs.database import open_engine
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import RunStatus
from tests.fakes.calls import VENDORS
from tests.fakes.server import FakeVendor, Reply, Seen, error, running_fake
from tests.helpers import execute, submit

KEYS = {"OPENAI_API_KEY": "sk-e2e", "XAI_API_KEY": "xai-e2e", "ANTHROPIC_API_KEY": "sk-ant-e2e",
        "GEMINI_API_KEY": "gm-e2e"}
MODELS = {"openai": "gpt-4o-mini", "grok": "grok-3-mini", "anthropic": "claude-sonnet-4-6",
          "gemini": "gemini-2.5-flash", "ollama": "llama3.2"}
STEPS = 3


@pytest.fixture(scope="module")
def vendor_server() -> Iterator[FakeVendor]:
    with running_fake() as server:
        yield server


@pytest.fixture
def fake(vendor_server: FakeVendor, monkeypatch: pytest.MonkeyPatch) -> FakeVendor:
    vendor_server.reset()
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    # quick retries: the default policy waits seconds between attempts
    monkeypatch.setenv("APART_LLM_ATTEMPTS", "2")
    monkeypatch.setenv("APART_LLM_BACKOFF_S", "0.01")
    return vendor_server


@pytest.fixture
def store(tmp_path: Path) -> SqlRunStore:
    return SqlRunStore(open_engine(f"sqlite:///{tmp_path / 'apart.db'}"))


def scenario(vendor: str, base_url: str) -> str:
    llm = f"{{provider: {vendor}, model: {MODELS[vendor]}, base_url: '{base_url}', timeout_s: 10}}"
    return textwrap.dedent(f"""\
        max_steps: {STEPS}
        time_step_duration: "1 month"
        seed: 5
        engine:
          provider: {vendor}
          model: {MODELS[vendor]}
          base_url: '{base_url}'
          timeout_s: 10
          system_prompt: You run a simulation of AI labs racing.
          simulation_plan: Labs race, incidents happen, regulation arrives.
        global_vars:
          tension: {{type: int, default: 30, min: 0, max: 100}}
        agent_vars:
          capability: {{type: int, default: 50, min: 0, max: 100}}
        agents:
          - name: Aster
            system_prompt: You lead Aster, a frontier AI lab.
            llm: {llm}
          - name: Board
            response_template: The board reviews step {{step}} and waits.
        """)


class GameMaster:
    """Answers like a model would: simulator JSON to the simulator, prose to agents."""

    def __init__(self) -> None:
        self.turns = 0
        self.lock = threading.Lock()

    def __call__(self, seen: Seen) -> Reply:
        if "state_updates" not in seen.parsed.system:
            return Reply(text="Aster opens talks with its rivals and delays its next release.")
        with self.lock:
            self.turns += 1
            turn = self.turns
        return Reply(text=json.dumps({
            "state_updates": {"global_vars": {"tension": 30 + turn},
                              "agent_vars": {"Aster": {"capability": 50 + turn}}},
            "events": [{"type": "talks", "description": f"Round {turn} of talks opens."}],
            "agent_messages": {"Aster": f"Briefing {turn}: rivals are watching.",
                               "Board": f"Briefing {turn}: review the plans."},
            "reasoning": "Talks ease the race a little.",
        }))


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_scenario_on_the_vendor_runs_to_completion_through_its_sdk(
    fake: FakeVendor, store: SqlRunStore, vendor: str
) -> None:
    fake.responder = GameMaster()
    submit(store, scenario(vendor, fake.base_url(vendor)), f"e2e-{vendor}")
    final = execute(store, f"e2e-{vendor}")
    assert final.status == RunStatus.COMPLETED, final.error
    assert final.current_step == STEPS

    calls = store.llm_calls(f"e2e-{vendor}")
    assert len(calls) == (STEPS + 1) + STEPS  # a simulator call per step, an agent call per step
    assert {c.provider for c in calls} == {vendor}
    assert {c.model for c in calls} == {f"{MODELS[vendor]}-fake-001"}  # as the server named it
    assert all((c.input_tokens, c.output_tokens, c.error) == (17, 5, None) for c in calls)
    answers = [c.response_text for c in calls if c.role_name == "Aster"]
    assert answers == ["Aster opens talks with its rivals and delays its next release."] * STEPS

    simulator_calls = [s for s in fake.seen if "state_updates" in s.parsed.system]
    assert len(simulator_calls) == STEPS + 1
    assert all(s.parsed.json_mode is (vendor != "anthropic") for s in simulator_calls)
    assert not any(s.parsed.json_mode for s in fake.seen if s not in simulator_calls)


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_quota_that_runs_out_pauses_the_run_and_it_resumes_once_the_quota_is_back(
    fake: FakeVendor, store: SqlRunStore, vendor: str
) -> None:
    master = GameMaster()
    exhausted = threading.Event()

    def respond(seen: Seen) -> Reply:
        if exhausted.is_set() or master.turns >= 2:  # steps 0 and 1 are played
            exhausted.set()
            return error(429, "Quota exceeded for requests per minute", retry_after="0.05")
        return master(seen)

    fake.responder = respond
    run_id = f"quota-{vendor}"
    submit(store, scenario(vendor, fake.base_url(vendor)), run_id)
    paused = execute(store, run_id)
    assert paused.status == RunStatus.PAUSED
    assert paused.pause_reason == "quota"
    assert paused.current_step == 1
    assert paused.error is not None
    assert f"{vendor} rate limit or quota exhausted: HTTP 429" in paused.error
    assert "Quota exceeded for requests per minute" in paused.error
    failed = [c for c in store.llm_calls(run_id) if c.error]
    assert failed and all(c.step == 2 for c in failed)  # the failures are recorded

    fake.responder = master  # the quota is back
    lifecycle.request_resume(store, run_id)
    final = execute(store, run_id)
    assert final.status == RunStatus.COMPLETED, final.error
    assert final.current_step == STEPS

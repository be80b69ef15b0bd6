"""Danger signals are computed every step, stored, counted, and can pause a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from apart.runs import lifecycle, views
from apart.runs.database import open_engine
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import RunStatus
from tests.helpers import execute, run_to_end, scenario_text, submit, trajectory_of

DANGER = """danger:
  detector: false
  rules:
    - name: tension_seen
      when: "tension >= 0"
      category: escalation
      severity: high
  pause_on_danger: {min_severity: high}
"""


@pytest.fixture
def store(tmp_path: Path) -> SqlRunStore:
    return SqlRunStore(open_engine(f"sqlite:///{tmp_path / 'apart.db'}"))


def test_a_seeded_danger_rule_pauses_the_run_for_a_human_and_resume_goes_on(
    store: SqlRunStore,
) -> None:
    text = scenario_text(steps=3) + DANGER
    run_to_end(store, text.replace("pause_on_danger: {min_severity: high}",
                                   "pause_on_danger: {min_severity: critical}"), "ref")
    submit(store, text, "d")
    paused = execute(store, "d")
    assert paused.status == RunStatus.PAUSED and paused.pause_reason == "danger"
    assert paused.current_step == 0 and "tension_seen" in (paused.error or "")
    assert paused.danger_count == 1
    detail = views.run_detail(paused, store.latest_checkpoint("d"))
    assert detail["dangerCount"] == 1
    assert detail["dangerSignals"][0]["category"] == "escalation"
    signal = next(e for e in store.events("d") if e.event_type == "danger_signal")
    assert signal.step == 0 and signal.data["signal"]["rule"] == "tension_seen"
    lifecycle.request_resume(store, "d")
    assert execute(store, "d").status == RunStatus.COMPLETED  # the rule fires on crossing
    assert trajectory_of(store, "d") == trajectory_of(store, "ref")


def test_the_detector_finds_signals_in_ordinary_runs_and_counts_them(
    store: SqlRunStore,
) -> None:
    final = run_to_end(store, scenario_text(steps=4), "plain")
    events = [e for e in store.events("plain") if e.event_type == "danger_signal"]
    assert final.danger_count == len(events)
    for event in events:
        signal = event.data["signal"]
        assert signal["source"] == "detector" and signal["evidence"]

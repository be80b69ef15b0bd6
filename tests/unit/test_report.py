"""`apart report`: one self-contained HTML file, charts drawn server-side, every text escaped,
the same page from the local store and from a server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from apart.api.app import create_app
from apart.cli.app import app as cli_app
from apart.cli.local import Local
from apart.cli.remote import Remote
from apart.config import Settings
from apart.report import plottable, render_report, report_inputs
from apart.report.charts import Series, line_chart, nice_scale
from apart.report.sources import store_steps
from apart.runs import views
from apart.runs.database import open_engine, sqlite_url
from apart.runs.sqlstore import SqlRunStore
from tests.helpers import run_to_end, scenario_text

INJECTED = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"
WHEN = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DANGER = ('danger: {detector: false, rules: [{name: seeded, when: "tension >= 0", '
          "category: escalation, severity: high}]}\n")


def _scenario() -> str:
    """4 steps; the template agent answers with markup that would run as script."""
    return scenario_text(steps=4).replace(
        "The board reviews step {step} and waits.", f'"{INJECTED} at step {{step}}"') + DANGER


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path) -> Iterator[SqlRunStore]:
    data_dir.mkdir()
    engine = open_engine(sqlite_url(data_dir))
    run_to_end(SqlRunStore(engine), _scenario(), "r1")
    yield SqlRunStore(engine)
    engine.dispose()


def _inputs(store: SqlRunStore) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    detail = views.run_detail(store.get_run("r1"), store.latest_checkpoint("r1"))
    return detail, store_steps(store, "r1")


def _polyline_points(page: str, key: str) -> list[list[str]]:
    figure = re.search(rf'<figure class="chart" data-variable="{re.escape(key)}">(.*?)</figure>',
                       page, re.S)
    assert figure is not None, f"no chart {key}"
    return [p.split() for p in re.findall(r'<polyline[^>]* points="([^"]+)"', figure.group(1))]


def test_the_report_has_charts_with_a_point_per_step_for_every_numeric_variable(
    store: SqlRunStore,
) -> None:
    page = render_report(*_inputs(store), generated_at=WHEN)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") == 5  # tension, trust, treaty (true/false); capability, safety
    assert [len(p) for p in _polyline_points(page, "global:tension")] == [5]  # steps 0..4
    assert [len(p) for p in _polyline_points(page, "agent:capability")] == [5, 5, 5, 5]
    assert "global:stage" not in page and "global:headlines" not in page  # text, list
    assert page.count('<details class="step"') == 5
    assert "A model is misused for fraud." in page  # the scripted event of step 1


def test_llm_text_is_escaped_and_nothing_can_run(store: SqlRunStore) -> None:
    page = render_report(*_inputs(store), generated_at=WHEN)
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt; at step 3" in page
    assert "<script" not in page.lower() and "<img" not in page.lower()


def test_the_report_loads_nothing_from_anywhere(store: SqlRunStore) -> None:
    page = render_report(*_inputs(store), generated_at=WHEN)
    attributes = re.findall(r"""\b(?:src|href|xlink:href|action)\s*=\s*["']?([^"'\s>]*)""", page)
    assert not [a for a in attributes if "http" in a.lower()], attributes
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert "<iframe" not in page and "<object" not in page


def test_the_seeded_danger_signal_and_usage_are_listed(store: SqlRunStore) -> None:
    page = render_report(*_inputs(store), generated_at=WHEN)
    danger = page[page.index('id="danger"'):page.index('id="usage"')]
    assert danger.count('<tr data-severity="high">') == 1
    assert "seeded" in danger and "escalation" in danger and "tension &gt;= 0" in danger
    usage = page[page.index('id="usage"'):page.index('id="timeline"')]
    assert "simulator" in usage and "Aster" in usage and "Total" in usage


def test_every_text_of_the_json_is_escaped() -> None:
    evil = "<b>bold</b>"
    detail = {
        "runId": "x", "scenario": evil, "status": "failed", "error": evil, "currentStep": 1,
        "maxSteps": 2, "seed": 1, "priority": "normal", "agentNames": [evil],
        "dangerCount": 1, "usage": {"calls": 1, "by_role": {evil: {"calls": 1}}},
        "dangerSignals": [{"step": 1, "agent": evil, "category": evil, "metric": evil,
                           "value": 1, "threshold": 0, "severity": "high", "evidence": evil,
                           "source": "rule", "rule": evil}],
    }
    steps = [
        {"step": 0, "global_vars": {evil: 1}, "agent_vars": {evil: {evil: True}},
         "messages": [{"from": "simulator", "to": evil, "content": evil}],
         "events": [{"type": evil, "description": evil}, evil], "reasoning": evil},
        {"step": 1, "global_vars": {evil: 2}, "agent_vars": {evil: {evil: False}},
         "messages": [{"from": evil, "to": "simulator", "content": evil}], "events": [],
         "reasoning": evil, "clamps": [{"scope": evil, "variable": evil, "requested": 5,
                                        "applied": 1, "bound": "max"}],
         "changes": [{"scope": "global", "variable": evil, "old": 1, "new": 2}]},
    ]
    page = render_report(detail, steps, generated_at=WHEN)
    assert "<b>" not in page
    assert page.count("&lt;b&gt;bold&lt;/b&gt;") > 15


def test_charts_scale_round_ticks_and_draw_true_false_as_steps() -> None:
    scale = nice_scale(0.12, 0.93, 4)
    assert (scale.lo, scale.hi) == (0, 1.0) and len(scale.ticks) in (5, 6)
    assert nice_scale(5, 5).lo < 5 < nice_scale(5, 5).hi
    chart = line_chart("treaty", [Series("treaty", [(0, 0.0), (1, 1.0), (2, 1.0)])],
                       boolean=True)
    points = re.search(r'points="([^"]+)"', chart)
    assert points is not None and len(points.group(1).split()) == 5  # held, then changed
    assert ">true<" in chart and ">false<" in chart
    lonely = line_chart("x", [Series("x", [(3, 7.0)])])
    assert "<circle" in lonely and "<polyline" in lonely
    assert "no values" in line_chart("y", [Series("y", [])])


def test_plottable_keeps_numbers_and_booleans_only() -> None:
    world, agents = plottable([
        {"step": 0, "global_vars": {"n": 1, "b": True, "s": "x", "l": []},
         "agent_vars": {"A": {"v": 0.5}}},
        {"step": 1, "global_vars": {"n": 2.5, "b": False, "s": "y", "l": [1]},
         "agent_vars": {"A": {"v": 0.7}}},
    ])
    assert {k: c.kind for k, c in world.items()} == {"n": "number", "b": "boolean"}
    assert world["n"].points == [(0, 1.0), (1, 2.5)]
    assert agents["v"]["A"].points == [(0, 0.5), (1, 0.7)]


def test_the_same_report_from_the_store_and_from_a_server(
    store: SqlRunStore, data_dir: Path
) -> None:
    settings = Settings(data_dir=data_dir)
    local = Local(settings=settings, store=store)
    api = create_app(settings, store, redis_sync=None, redis_async=None)
    with TestClient(api) as client:
        remote = Remote(url="http://testserver", client=client)
        from_server = render_report(*report_inputs(remote, "r1"), generated_at=WHEN)
    from_store = render_report(*report_inputs(local, "r1"), generated_at=WHEN)
    assert from_server == from_store


def test_apart_report_writes_the_file_in_local_mode(
    store: SqlRunStore, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APART_API_URL", raising=False)
    monkeypatch.setenv("APART_DATA_DIR", str(data_dir))
    target = tmp_path / "out" / "r1.html"
    result = CliRunner().invoke(cli_app, ["report", "r1", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "wrote the report of run r1" in result.output and "5 saved steps" in result.output
    page = target.read_text(encoding="utf-8")
    assert "<svg" in page and "<script" not in page.lower()
    missing = CliRunner().invoke(cli_app, ["report", "nope", "-o", str(tmp_path / "n.html")])
    assert missing.exit_code != 0 and not (tmp_path / "n.html").exists()

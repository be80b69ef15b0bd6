"""The report page: one self-contained HTML document for a run.

:func:`render_report` takes the API's JSON -- the run detail
(``GET /api/v1/runs/{id}``) and its saved steps (``GET /api/v1/runs/{id}/steps``)
-- so a report looks the same whether the run was read from the local store or
from a server. The page has inline CSS and inline SVG charts, no script, no
link to anything; every text that came from a model, a scenario or a user goes
through :func:`html.escape`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from apart.report.charts import Series, line_chart
from apart.report.style import CSS

Json = Mapping[str, Any]
SEVERITIES = ("low", "medium", "high", "critical")
SIMULATOR = "simulator"
#: runs with at most this many saved steps show every step open
OPEN_STEPS = 30


def render_report(detail: Json, steps: Sequence[Json], *,
                  generated_at: datetime | None = None) -> str:
    """The HTML of the report of run ``detail`` with its saved ``steps``."""
    ordered = sorted(steps, key=lambda s: int(s.get("step", 0)))
    when = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    signals = merge_signals(ordered, detail.get("dangerSignals") or [])
    body = "".join((
        _header(detail, when),
        _overview(detail),
        _section("variables", "Variables", _variables(ordered)),
        _section("danger", f"Danger signals ({_count(detail.get('dangerCount'))})",
                 _danger(signals, detail)),
        _section("usage", "Usage and cost", _usage(detail.get("usage") or {})),
        _section("timeline", "Timeline", _timeline(ordered)),
    ))
    title = escape(f"{detail.get('runId', '')} · apart report")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"referrer\" content=\"no-referrer\">"
            f"<title>{title}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main>"
            f"<footer>Written by <code>apart report</code> on {escape(when)}. "
            "This file is self-contained: it loads nothing and runs no script.</footer>"
            "</body></html>\n")


# -- values ----------------------------------------------------------------------------


def _text(value: Any) -> str:
    """Any value as escaped text."""
    return escape("" if value is None else str(value))


def _count(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def _cost(value: Any) -> str:
    if value is None:
        return "–"
    usd = float(value)
    if usd == 0:
        return "$0"
    return f"${usd:.2g}" if abs(usd) < 0.01 else f"${usd:.2f}"


def _value(value: Any) -> str:
    """A variable's value, short (escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return f"[{len(value)} item{'' if len(value) == 1 else 's'}]"
    if isinstance(value, dict):
        return escape(json.dumps(value, ensure_ascii=False))
    return _text("–" if value is None else value)


def _time(iso: Any) -> str:
    if not iso:
        return '<span class="muted">–</span>'
    try:
        shown = datetime.fromisoformat(str(iso)).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        shown = str(iso)
    return f'<time datetime="{_text(iso)}">{escape(shown)}</time>'


def _section(key: str, title: str, content: str) -> str:
    return (f'<section class="card" id="{key}" aria-labelledby="{key}-title">'
            f'<h2 id="{key}-title">{escape(title)}</h2>{content}</section>')


def _badge(kind: str, value: Any) -> str:
    word = _text(value)
    return f'<span class="{kind} {kind}-{word}">{word}</span>'


# -- header and overview -----------------------------------------------------------------


def _header(detail: Json, when: str) -> str:
    note = ""
    if detail.get("error"):
        note = f'<div class="run-error">{_text(detail["error"])}</div>'
    elif detail.get("pauseReason") and detail.get("status") == "paused":
        note = f'<p class="muted">pause reason: {_text(detail["pauseReason"])}</p>'
    return (f'<header class="head"><p class="kicker">apart · run report</p>'
            f"<h1>{_text(detail.get('runId'))} {_badge('status', detail.get('status'))}</h1>"
            f'<p class="muted">scenario {_text(detail.get("scenario"))} · seed '
            f'{_text(detail.get("seed"))} · {_text(detail.get("priority"))} priority · '
            f"report of {escape(when)}</p>{note}</header>")


def _progress(current: Any, total: Any) -> str:
    done = int(current) if isinstance(current, int) else 0
    ratio = min(1.0, max(0.0, done / total)) if isinstance(total, int) and total > 0 else 0.0
    shown = "–" if current is None else str(current)
    return (f'<div class="progress"><div class="progress-track"><span class="progress-fill" '
            f'style="width:{ratio * 100:.1f}%"></span></div>'
            f'<span class="progress-text">{escape(shown)}/{_text(total)}</span></div>')


def _every(frequency: Any) -> str:
    return "every step" if frequency in (None, 1) else f"every {_text(frequency)} steps"


def _overview(detail: Json) -> str:
    usage = detail.get("usage") or {}
    tokens = int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
    stats = [
        (f"{_text(detail.get('currentStep', '–'))} / {_text(detail.get('maxSteps'))}",
         "steps done"),
        (_count(detail.get("dangerCount")), "danger signals"),
        (_cost(usage.get("cost_usd")), "cost"),
        (_count(tokens), "tokens"),
        (_count(usage.get("calls") or 0), "LLM calls"),
    ]
    facts = [
        ("Agents", _text(", ".join(detail.get("agentNames") or []) or "–")),
        ("Created", _time(detail.get("createdAt"))), ("Started", _time(detail.get("startedAt"))),
        ("Paused", _time(detail.get("pausedAt"))), ("Finished", _time(detail.get("completedAt"))),
        ("Checkpoint", _every(detail.get("saveFrequency"))),
        ("Provider", _text(detail.get("providerOverride") or "as in the scenario")),
    ]
    return _section("overview", "Overview", "".join((
        _progress(detail.get("currentStep"), detail.get("maxSteps")),
        '<div class="stats">',
        "".join(f'<div class="stat"><div class="stat-value">{v}</div>'
                f'<div class="stat-label">{escape(k)}</div></div>' for v, k in stats),
        '</div><dl class="facts">',
        "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in facts),
        "</dl>",
    )))


# -- variables ---------------------------------------------------------------------------


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float) and math.isfinite(value):
        return "number"
    return None


class _Column:
    """The points of one variable (of one agent), all of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.points: list[tuple[float, float]] = []

    def add(self, step: int, value: Any) -> None:
        if _kind(value) == self.kind:
            self.points.append((step, float(value)))


def _add(table: dict[str, _Column], key: str, step: int, value: Any) -> None:
    kind = _kind(value)
    if kind is not None:
        table.setdefault(key, _Column(kind)).add(step, value)


def plottable(steps: Iterable[Json]) -> tuple[dict[str, _Column], dict[str, dict[str, _Column]]]:
    """Numbers and true/false values over steps: (global by name, by name then agent)."""
    world: dict[str, _Column] = {}
    agents: dict[str, dict[str, _Column]] = {}
    for step in steps:
        number = int(step.get("step", 0))
        for name, value in (step.get("global_vars") or {}).items():
            _add(world, name, number, value)
        for agent, values in (step.get("agent_vars") or {}).items():
            for name, value in (values or {}).items():
                _add(agents.setdefault(name, {}), agent, number, value)
    return world, agents


def _variables(steps: Sequence[Json]) -> str:
    world, agents = plottable(steps)
    if not world and not agents:
        return '<p class="muted">No numeric or true/false variable to chart.</p>'
    out = []
    if world:
        charts = "".join(line_chart(name, [Series(name, column.points)],
                                    boolean=column.kind == "boolean", key=f"global:{name}")
                         for name, column in world.items())
        out.append(f'<h3>World (global variables)</h3><div class="chart-grid">{charts}</div>')
    if agents:
        charts = "".join(_agent_chart(name, by_agent) for name, by_agent in agents.items())
        out.append(f'<h3>Per agent (one line per agent)</h3><div class="chart-grid">{charts}'
                   "</div>")
    return "".join(out)


def _agent_chart(name: str, by_agent: Mapping[str, _Column]) -> str:
    kinds = {column.kind for column in by_agent.values()}
    boolean = kinds == {"boolean"}
    series = [Series(agent, column.points) for agent, column in by_agent.items()
              if column.kind == "number" or boolean]
    return line_chart(name, series, boolean=boolean, key=f"agent:{name}")


# -- danger signals ----------------------------------------------------------------------


def _signal_key(signal: Json) -> str:
    fields = ("step", "agent", "rule", "category", "metric", "source", "evidence")
    return json.dumps([signal.get(f) for f in fields], ensure_ascii=False, default=str)


def merge_signals(steps: Iterable[Json], latest: Iterable[Json]) -> list[Json]:
    """The signals of the saved steps and the run's latest ones, once each, by step."""
    seen: dict[str, Json] = {}
    for step in steps:
        for signal in step.get("danger_signals") or []:
            seen.setdefault(_signal_key(signal), signal)
    for signal in latest:
        seen.setdefault(_signal_key(signal), signal)
    return sorted(seen.values(), key=lambda s: int(s.get("step", 0)))


def _measured(signal: Json) -> str:
    parts = []
    if signal.get("value") is not None:
        parts.append(f"value {_text(signal['value'])}")
    if signal.get("threshold") is not None:
        parts.append(f"threshold {_text(signal['threshold'])}")
    return " · ".join(parts)


def _signal_row(signal: Json) -> str:
    agent = signal.get("agent")
    who = _text(agent) if agent is not None else '<span class="muted">world</span>'
    return (f'<tr data-severity="{_text(signal.get("severity"))}">'
            f'<td class="num">{_text(signal.get("step"))}</td><td>{who}</td>'
            f'<td class="nowrap">{_text(signal.get("category"))}</td>'
            f"<td>{_badge('severity', signal.get('severity'))}</td>"
            f'<td>{_text(signal.get("source"))}<div class="muted small">'
            f'{_text(signal.get("rule"))}</div></td>'
            f'<td class="evidence"><div class="metric"><code>{_text(signal.get("metric"))}'
            f"</code> {_measured(signal)}</div><div>{_text(signal.get('evidence'))}</div></td>"
            "</tr>")


def _danger(signals: Sequence[Json], detail: Json) -> str:
    if not signals:
        return '<p class="muted">No danger signal.</p>'
    by_severity = {s: sum(1 for x in signals if x.get("severity") == s) for s in SEVERITIES}
    summary = " · ".join(f"{count} {severity}" for severity, count in by_severity.items()
                         if count)
    total = detail.get("dangerCount")
    missing = ""
    if isinstance(total, int) and total > len(signals):
        missing = (f" ({len(signals)} listed: those of the saved steps and the latest "
                   f"{len(detail.get('dangerSignals') or [])})")
    head = "".join(f"<th scope=\"col\">{h}</th>" for h in
                   ("Step", "Agent", "Category", "Severity", "Source", "Evidence"))
    rows = "".join(_signal_row(s) for s in signals)
    return (f'<p class="muted">{escape(summary)}{escape(missing)}</p>'
            f'<div class="table-scroll"><table class="danger-table"><thead><tr>{head}</tr>'
            f"</thead><tbody>{rows}</tbody></table></div>")


# -- usage -------------------------------------------------------------------------------


def _usage_row(name: str, usage: Json, total: bool = False) -> str:
    cell = '<th scope="row">' if total else "<td>"
    end = "</th>" if total else "</td>"
    return (f'<tr{" class=total" if total else ""}>{cell}{escape(name)}{end}'
            f'<td class="num">{_count(usage.get("calls"))}</td>'
            f'<td class="num">{_count(usage.get("input_tokens"))}</td>'
            f'<td class="num">{_count(usage.get("output_tokens"))}</td>'
            f'<td class="num">{_cost(usage.get("cost_usd"))}</td></tr>')


def _usage(usage: Json) -> str:
    rows = "".join(_usage_row(str(role), values)
                   for role, values in (usage.get("by_role") or {}).items())
    head = "".join(f'<th scope="col"{" class=num" if i else ""}>{h}</th>' for i, h in
                   enumerate(("Role", "Calls", "Input tokens", "Output tokens", "Cost")))
    return (f'<div class="table-scroll"><table class="usage-table"><thead><tr>{head}</tr>'
            f"</thead><tbody>{rows}</tbody><tfoot>{_usage_row('Total', usage, True)}</tfoot>"
            "</table></div>")


# -- timeline ----------------------------------------------------------------------------


def _message(label: str, text: Any, kind: str) -> str:
    if text is None:
        content = '<p class="muted">not saved (the previous step was not checkpointed)</p>'
    elif text == "":
        content = '<p class="muted">(no message)</p>'
    else:
        content = f'<p class="message-text">{_text(text)}</p>'
    return (f'<div class="message message-{kind}"><div class="message-label">{escape(label)}'
            f"</div>{content}</div>")


def _exchanges(step: Json, previous: Json | None) -> str:
    messages = step.get("messages") or []
    if int(step.get("step", 0)) == 0:
        cards = [f'<div class="exchange"><h4>{_text(m.get("to"))}</h4>'
                 + _message("First briefing from the simulator", m.get("content"), "received")
                 + "</div>" for m in messages if m.get("from") == SIMULATOR]
    else:
        told = {m.get("to"): m.get("content") for m in (previous or {}).get("messages") or []
                if m.get("from") == SIMULATOR}
        cards = [f'<div class="exchange"><h4>{_text(m.get("from"))}</h4>'
                 + _message("Received", told.get(m.get("from"), "") if previous else None,
                            "received")
                 + _message("Answered", m.get("content"), "answer") + "</div>"
                 for m in messages if m.get("to") == SIMULATOR]
    return f'<div class="exchanges">{"".join(cards)}</div>' if cards else ""


def _events(events: Sequence[Any]) -> str:
    if not events:
        return ""
    items = []
    for event in events:
        if isinstance(event, Mapping):
            kind = f'<span class="event-type">{_text(event.get("type"))}</span>' \
                if event.get("type") else ""
            text = event.get("description", json.dumps(event, ensure_ascii=False, default=str))
            items.append(f"<li>{kind}{_text(text)}</li>")
        else:
            items.append(f"<li>{_text(event)}</li>")
    return f'<div class="block"><h4>Events</h4><ul class="events">{"".join(items)}</ul></div>'


def _changes(changes: Sequence[Json]) -> str:
    if not changes:
        return ""
    rows = "".join(
        f"<tr><td>{_where(c)}</td>"
        f'<td class="num">{_value(c.get("old"))}</td><td>→</td>'
        f'<td class="num">{_value(c.get("new"))}</td></tr>' for c in changes)
    return f'<div class="block"><h4>Changes</h4><table class="changes">{rows}</table></div>'


def _where(change: Json) -> str:
    """``tension`` for a global variable, ``Alpha · trust`` for an agent's (escaped)."""
    if change.get("scope") == "global":
        return _text(change.get("variable"))
    return f"{_text(change.get('scope'))} · {_text(change.get('variable'))}"


def _clamps(clamps: Sequence[Json]) -> str:
    if not clamps:
        return ""
    items = "".join(
        f"<li>{_where(c)}: asked {_value(c.get('requested'))}, set to "
        f"{_value(c.get('applied'))} ({_text(c.get('bound'))})</li>" for c in clamps)
    return f'<div class="block"><h4>Clamped to bounds</h4><ul class="clamps">{items}</ul></div>'


def _step_signals(signals: Sequence[Json]) -> str:
    if not signals:
        return ""
    items = "".join(
        f"<li>{_badge('severity', s.get('severity'))} <strong>{_text(s.get('category'))}</strong>"
        f" · {_text(s.get('agent') if s.get('agent') is not None else 'world')} · "
        f"{_text(s.get('source'))}: {_text(s.get('evidence'))}</li>" for s in signals)
    return f'<div class="block"><h4>Danger signals</h4><ul class="signals">{items}</ul></div>'


def _step(step: Json, previous: Json | None, is_open: bool) -> str:
    number = int(step.get("step", 0))
    events = step.get("events") or []
    signals = step.get("danger_signals") or []
    clamps = step.get("clamps") or []
    first = events[0] if events and isinstance(events[0], Mapping) else {}
    pills = "".join((
        f'<span class="pill">{len(events)} event(s)</span>' if events else "",
        f'<span class="pill warn">{len(clamps)} clamped</span>' if clamps else "",
        f'<span class="pill">{len(signals)} signal(s)</span>' if signals else "",
    ))
    title = "Step 0 · initialisation" if number == 0 else f"Step {number}"
    reasoning = step.get("reasoning")
    reasoning_html = f'<p class="message-text">{_text(reasoning)}</p>' if reasoning \
        else '<p class="muted">none given</p>'
    return (f'<details class="step" data-step="{number}"{" open" if is_open else ""}><summary>'
            f'<span class="step-no">{title}</span><span class="step-headline">'
            f'{_text(first.get("description", ""))}</span>{pills}</summary>'
            f'<div class="step-body">{_events(events)}{_exchanges(step, previous)}'
            f'<div class="block"><h4>Simulator\'s reasoning</h4>{reasoning_html}</div>'
            f"{_changes(step.get('changes') or [])}{_clamps(clamps)}{_step_signals(signals)}"
            "</div></details>")


def _timeline(steps: Sequence[Json]) -> str:
    if not steps:
        return '<p class="muted">No saved step.</p>'
    by_number = {int(s.get("step", 0)): s for s in steps}
    is_open = len(steps) <= OPEN_STEPS
    cards = "".join(_step(s, by_number.get(int(s.get("step", 0)) - 1), is_open) for s in steps)
    hint = "" if is_open else '<p class="muted">Click a step to read it.</p>'
    return f'{hint}<div class="timeline">{cards}</div>'

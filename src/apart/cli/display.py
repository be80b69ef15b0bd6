"""How the CLI shows runs: live progress, tables, event lines."""

from __future__ import annotations

import json
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from apart.sim.engine import LiveEvent

STATUS_STYLE = {
    "pending": "cyan", "running": "blue", "pausing": "yellow", "paused": "yellow",
    "completed": "green", "failed": "red", "stopped": "magenta", "interrupted": "red",
}


STATUS_OF_EVENT = {
    "simulation_started": "running", "simulation_paused": "paused",
    "simulation_completed": "completed", "simulation_failed": "failed",
    "simulation_stopped": "stopped", "simulation_interrupted": "interrupted",
}


def _short(text: str, width: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_live(event: LiveEvent, total: int) -> str | None:
    """One line for a live event, or None for events not worth a line."""
    data = event.data
    if event.event_type == "agent_response_received":
        return f"step {event.step} · {data['agent']}: {_short(data['response'], 70)}"
    if event.event_type == "simulator_retry":
        error = _short(data["error"], 60)
        return f"step {event.step} · simulator answer invalid, retrying: {error}"
    if event.event_type == "step_completed":
        snap = data["snapshot"]
        told = "; ".join(_short(e.get("description", ""), 50) for e in snap.events[:2])
        clamps = f" · {len(snap.clamps)} clamped" if snap.clamps else ""
        return f"step {event.step}/{total} done{clamps}" + (f" · {told}" if told else "")
    return None


class Progress:
    """Live progress of a run executing in this process: step k/N, elapsed, last events."""

    def __init__(self, console: Console, run: dict[str, Any]) -> None:
        self.console = console
        self.run_id: str = run["runId"]
        self.max_steps: int = run["maxSteps"]
        self.step: int | None = run["currentStep"]
        self.status = str(run["status"])
        self.started = time.monotonic()
        self.lines: deque[str] = deque(maxlen=6)
        self.live: Live | None = None

    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=8,
                             transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(None, None, None)

    def notice(self, text: str) -> None:
        self._add(f"[yellow]{text}[/yellow]", plain=text)

    def on_event(self, event: LiveEvent) -> None:
        if event.event_type == "status":
            self.status = str(event.data["status"])
        elif event.event_type == "step_completed":
            self.step = event.step
        line = describe_live(event, self.max_steps)
        if line is not None:
            self._add(line, plain=line if event.event_type == "step_completed" else None)

    def on_envelope(self, envelope: dict[str, Any]) -> None:
        """A stored event from a server's stream (remote mode)."""
        kind, data = envelope["event_type"], envelope.get("data") or {}
        status = STATUS_OF_EVENT.get(kind)
        if status is not None:
            self.status = status
        if kind == "step_completed":
            self.step = envelope["step"]
            told = "; ".join(_short(e.get("description", ""), 50) for e in data.get("events", []))
            line = f"step {self.step}/{self.max_steps} done" + (f" · {told}" if told else "")
            self._add(line, plain=line)
        elif kind == "agent_response_received":
            self._add(f"step {envelope['step']} · {data.get('agent')}: "
                      f"{_short(data.get('response', ''), 70)}", plain=None)
        elif status is not None or kind in ("pause_requested", "simulation_resumed"):
            line = event_line(envelope)
            self._add(line, plain=line)

    def _add(self, line: str, plain: str | None) -> None:
        self.lines.append(line)
        if self.live is not None:
            self.live.update(self._render())
        elif plain is not None:
            self.console.print(f"[{self._elapsed()}] {plain}", markup=False, highlight=False)

    def _counter(self) -> str:
        done = -1 if self.step is None else self.step
        return f"step {max(done, 0)}/{self.max_steps}"

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def _render(self) -> Group:
        style = STATUS_STYLE.get(self.status, "white")
        head = Text.assemble(
            (self.run_id, "bold"), "  ", (self.status, style), "  ",
            self._counter(), "  ", (self._elapsed(), "dim"),
        )
        body = [Text.from_markup(line) if "[" in line else Text(line) for line in self.lines]
        if self.status not in ("pending", "running", "pausing"):
            return Group(head, *body)
        hint = Text("Ctrl+C pauses at the end of the step · twice pauses now", style="dim")
        return Group(head, *body, hint)


def runs_table(runs: list[dict[str, Any]]) -> Table:
    """Run summaries (the API's ``runs`` list) as a table."""
    table = Table(box=None, header_style="bold")
    for column in ("RUN ID", "SCENARIO", "STATUS", "STEP", "CREATED", "NOTE"):
        table.add_column(column)
    for run in runs:
        step = "-" if run["currentStep"] is None else str(run["currentStep"])
        reason = run.get("pauseReason")
        note = run.get("error") or (f"paused: {reason}" if reason else "")
        created = (run.get("createdAt") or "")[:19].replace("T", " ")
        table.add_row(
            run["runId"], run["scenario"],
            Text(run["status"], style=STATUS_STYLE.get(run["status"], "")),
            f"{step}/{run['totalSteps']}", created, _short(note, 50),
        )
    return table


def detail_table(detail: dict[str, Any]) -> Table:
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    shown = ("runId", "scenario", "status", "currentStep", "maxSteps", "seed", "priority",
             "pauseReason", "error", "createdAt", "startedAt", "pausedAt", "completedAt",
             "agentNames", "usage", "dangerCount", "globalVars")
    for key in shown:
        value = detail.get(key)
        if value is None or value == []:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        table.add_row(key, Text(_short(text, 200)))
    return table


def event_line(envelope: dict[str, Any]) -> str:
    """One line for a stored event envelope (DESIGN §7)."""
    data = envelope.get("data") or {}
    kind = envelope["event_type"]
    step = "" if envelope.get("step") is None else f"step {envelope['step']} "
    summary = ""
    if kind == "agent_response_received":
        summary = f"{data.get('agent')}: {_short(data.get('response', ''), 70)}"
    elif kind == "agent_message_sent":
        summary = f"to {data.get('agent')}: {_short(data.get('message', ''), 70)}"
    elif kind == "constraint_hit":
        summary = (f"{data.get('scope')}.{data.get('variable')} {data.get('requested')} -> "
                   f"{data.get('applied')}")
    elif kind in ("simulation_failed", "simulation_paused", "pause_requested",
                  "simulation_interrupted", "simulation_stopped"):
        summary = _short(json.dumps(data, ensure_ascii=False), 80)
    elif kind == "step_completed":
        summary = "; ".join(_short(e.get("description", ""), 40) for e in data.get("events", []))
    elif kind == "llm_call":
        summary = (f"{data.get('role')} {data.get('model')} attempt {data.get('attempt')}: "
                   f"{data.get('input_tokens')}+{data.get('output_tokens')} tokens, "
                   f"{data.get('latency_ms')} ms" + (f", {data['error']}" if data.get("error")
                                                      else ""))
    clock = str(envelope.get("timestamp", ""))[11:19]
    return f"#{envelope['id']} {clock} {step}{kind} {summary}"


def estimate_table(estimate: Any) -> Table:
    """A cost estimate (:class:`apart.sim.estimate.Estimate`), one row per role."""
    table = Table(box=None, header_style="bold")
    for column in ("ROLE", "PROVIDER", "MODEL", "CALLS", "INPUT TOKENS", "OUTPUT TOKENS", "USD"):
        table.add_column(column, justify="right" if column in
                         ("CALLS", "INPUT TOKENS", "OUTPUT TOKENS", "USD") else "left")
    for role in estimate.roles:
        cost = f"{role.cost_usd:.4f}" if role.priced else "unpriced"
        table.add_row(role.role, role.provider, role.model, str(role.calls),
                      f"{role.input_tokens:,}", f"{role.output_tokens:,}", cost)
    return table


def signals_table(signals: list[dict[str, Any]], limit: int = 20) -> Table:
    """The most recent danger signals, newest last."""
    table = Table(box=None, header_style="bold", title="danger signals", title_justify="left")
    for column in ("STEP", "AGENT", "CATEGORY", "SEVERITY", "SOURCE", "EVIDENCE"):
        table.add_column(column)
    for signal in signals[-limit:]:
        table.add_row(str(signal.get("step")), signal.get("agent") or "world",
                      str(signal.get("category")), str(signal.get("severity")),
                      str(signal.get("source")), _short(str(signal.get("evidence", "")), 80))
    return table

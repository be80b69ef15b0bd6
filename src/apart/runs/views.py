"""The JSON shapes of runs that clients read (DESIGN §6): camelCase in listings
and details, snake_case in the pause/resume/start responses. The API returns
these objects and the CLI's ``--json`` prints exactly the same ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apart.runs.records import CheckpointRecord, RunRecord
from apart.runs.status import RESUMABLE, RunStatus


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_summary(run: RunRecord) -> dict[str, Any]:
    return {
        "runId": run.id,
        "scenario": run.scenario_name,
        "status": str(run.status),
        "currentStep": run.current_step,
        "totalSteps": run.max_steps,
        "startedAt": _iso(run.started_at),
        "pausedAt": _iso(run.paused_at),
        "completedAt": _iso(run.completed_at),
        "createdAt": _iso(run.created_at),
        "dangerCount": run.danger_count,
        "costUsd": run.usage.get("cost_usd", 0.0),
        "priority": run.priority,
        "pauseReason": run.pause_reason,
        "error": run.error,
    }


def run_detail(run: RunRecord, latest: CheckpointRecord | None = None) -> dict[str, Any]:
    state = latest.data.get("state", {}) if latest else {}
    return {
        **run_summary(run),
        "maxSteps": run.max_steps,
        "seed": run.seed,
        "saveFrequency": run.save_frequency,
        "providerOverride": run.provider_override,
        "agentNames": list(run.agent_names),
        "dangerSignals": list(state.get("danger_signals", [])),
        "usage": dict(run.usage),
        "pauseRequest": run.pause_request,
        "pauseAtStep": run.pause_at_step,
        "stopRequested": run.stop_requested,
        "resumable": run.status in RESUMABLE,
        "updatedAt": _iso(run.updated_at),
        "heartbeatAt": _iso(run.heartbeat_at),
        "lastEventId": run.last_event_id,
        "budget": run.options.get("budget"),
        "recoveries": run.recoveries,
        "globalVars": state.get("global_vars"),
        "agentVars": state.get("agent_vars"),
    }


def run_list(runs: list[RunRecord], next_cursor: str | None) -> dict[str, Any]:
    return {"runs": [run_summary(r) for r in runs], "nextCursor": next_cursor}


def started(run: RunRecord, message: str) -> dict[str, Any]:
    return {"run_id": run.id, "status": str(run.status), "message": message}


def pause_message(run: RunRecord, force: bool, at_step: int | None) -> str:
    """What a pause request did, in one sentence (CLI and API alike)."""
    if at_step is not None:
        return f"run {run.id} will pause after step {at_step}"
    if run.status == "paused":
        return f"run {run.id} is paused"
    when = "now (force)" if force else "at the end of the step in progress"
    return f"run {run.id} is pausing {when}"


def pause_requested(run: RunRecord, message: str) -> dict[str, Any]:
    return {"run_id": run.id, "status": "pause_requested", "message": message,
            "run_status": str(run.status)}


def resumed(run: RunRecord, message: str) -> dict[str, Any]:
    return {"run_id": run.id, "status": "resumed", "resuming_from_step": run.current_step,
            "message": message, "run_status": str(run.status)}


def step_view(checkpoint: CheckpointRecord) -> dict[str, Any]:
    """One step of the trajectory (``GET /runs/{id}/steps``)."""
    return dict(checkpoint.data.get("snapshot", {}))


def stop_requested(run: RunRecord, message: str) -> dict[str, Any]:
    """``stopped`` when the run ended at once, ``stop_requested`` while a process stops it."""
    status = "stopped" if run.status == RunStatus.STOPPED else "stop_requested"
    return {"run_id": run.id, "status": status, "message": message,
            "run_status": str(run.status)}


def deleted(run_id: str, message: str) -> dict[str, Any]:
    return {"run_id": run_id, "status": "deleted", "message": message}


def step_list(run_id: str, checkpoints: list[CheckpointRecord]) -> dict[str, Any]:
    """The saved steps of a run (``GET /runs/{id}/steps``), oldest first."""
    return {"runId": run_id, "steps": [step_view(c) for c in checkpoints]}

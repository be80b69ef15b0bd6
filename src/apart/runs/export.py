"""``apart export``: a run's trajectory and events as files (DESIGN §8).

``DIR/RUN_ID/state.json`` (one snapshot per saved step, step 0 included),
``events.jsonl`` (the event envelopes of DESIGN §7) and ``variables.csv`` (one
row per saved step, one column per variable)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from apart.errors import ConfigError
from apart.runs.records import RunStore

SNAPSHOT_KEYS = ("step", "global_vars", "agent_vars", "messages", "events", "reasoning")


def trajectory(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    """Every saved step's snapshot, in order."""
    return [snapshot_of(c.data["snapshot"]) for c in store.checkpoints(run_id)]


def state_document(store: RunStore, run_id: str) -> dict[str, Any]:
    run = store.get_run(run_id)
    return {
        "run_id": run.id,
        "scenario": run.scenario_name,
        "seed": run.seed,
        "status": str(run.status),
        "max_steps": run.max_steps,
        "usage": run.usage,
        "snapshots": trajectory(store, run_id),
    }


def _columns(snapshots: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for snap in snapshots:
        names = [f"global.{k}" for k in snap["global_vars"]]
        for agent, variables in snap["agent_vars"].items():
            names += [f"{agent}.{k}" for k in variables]
        columns += [n for n in names if n not in columns]
    return columns


def _row(snap: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"step": snap["step"]}
    for key, value in snap["global_vars"].items():
        row[f"global.{key}"] = _cell(value)
    for agent, variables in snap["agent_vars"].items():
        for key, value in variables.items():
            row[f"{agent}.{key}"] = _cell(value)
    return row


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def snapshot_of(step_view: dict[str, Any]) -> dict[str, Any]:
    """A saved step as ``state.json`` lists it."""
    return {k: step_view.get(k) for k in (*SNAPSHOT_KEYS, "clamps")}


def export_run(store: RunStore, run_id: str, out_dir: Path) -> Path:
    """Write the three files from the store; returns the run's folder."""
    return write_export(out_dir, state_document(store, run_id), _envelopes(store, run_id))


def _envelopes(store: RunStore, run_id: str) -> Iterator[dict[str, Any]]:
    after = 0
    while batch := store.events(run_id, after_id=after, limit=1000):
        for record in batch:
            yield record.envelope()
        after = batch[-1].id


def write_export(out_dir: Path, document: dict[str, Any],
                 envelopes: Iterable[dict[str, Any]]) -> Path:
    """``state.json``, ``events.jsonl`` and ``variables.csv`` in ``out_dir/RUN_ID``."""
    target = out_dir / document["run_id"]
    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / "state.json").write_text(json.dumps(document, indent=2, ensure_ascii=False))
        with (target / "events.jsonl").open("w", encoding="utf-8") as fh:
            for envelope in envelopes:
                fh.write(json.dumps(envelope, ensure_ascii=False) + "\n")
        snapshots = document["snapshots"]
        with (target / "variables.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["step", *_columns(snapshots)])
            writer.writeheader()
            writer.writerows(_row(s) for s in snapshots)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the export to {target}: {exc.strerror or exc}; "
            "choose a writable folder with -o DIR"
        ) from exc
    return target

"""Where a report's JSON comes from: the CLI's backend, local or remote.

Both give the API's shapes: the run detail (``views.run_detail``) and the saved
steps (``views.step_view``). The CLI's :class:`~apart.cli.backend.Backend` has
no ``steps`` call, so the saved steps are read here: from the store locally,
with ``GET /api/v1/runs/{id}/steps`` against a server.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apart.errors import ConfigError
from apart.report.render import render_report
from apart.runs import views

if TYPE_CHECKING:
    from apart.cli.backend import Backend
    from apart.runs.records import RunStore

Json = dict[str, Any]


def store_steps(store: RunStore, run_id: str) -> list[Json]:
    """The saved steps of a run in ``store``, as ``GET /runs/{id}/steps`` lists them."""
    steps: list[Json] = views.step_list(run_id, store.checkpoints(run_id))["steps"]
    return steps


def report_inputs(backend: Backend, run_id: str) -> tuple[Json, list[Json]]:
    """(run detail, saved steps) of ``run_id``; the backend's errors propagate."""
    from apart.cli.local import Local
    from apart.cli.remote import Remote

    detail = backend.detail(run_id)
    if isinstance(backend, Local):
        return detail, store_steps(backend.store, run_id)
    if isinstance(backend, Remote):
        answer = backend._call("GET", f"/api/v1/runs/{run_id}/steps")  # no Backend.steps yet
        return detail, list(answer["steps"])
    raise TypeError(f"cannot read the steps of run {run_id} from {type(backend).__name__}")


def write_report(backend: Backend, run_id: str, out: Path,
                 generated_at: datetime | None = None) -> tuple[Path, Json, list[Json]]:
    """Write the report of ``run_id`` to ``out``; returns (path, detail, steps)."""
    detail, steps = report_inputs(backend, run_id)
    page = render_report(detail, steps, generated_at=generated_at)
    try:
        if out.parent != Path():
            out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {out}: {exc.strerror or exc}") from exc
    return out, detail, steps

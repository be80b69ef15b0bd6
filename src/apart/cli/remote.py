"""Remote mode: the CLI as a client of an apart server (DESIGN §6, §8).

Every method is one HTTP call (or one event stream) and returns the server's
JSON object unchanged. Errors carry the server's ``detail``; a connection
failure names the URL and how to start the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from apart.config import Settings
from apart.errors import ApartError, ConfigError
from apart.runs.export import snapshot_of, write_export
from apart.runs.lifecycle import Submission

from .backend import JsonObj

FINAL_EVENTS = frozenset({"simulation_paused", "simulation_completed", "simulation_failed",
                          "simulation_stopped", "simulation_interrupted"})
ACTIVE = frozenset({"pending", "running", "pausing"})


class RemoteError(ApartError):
    """The server refused a request; ``message`` is its ``detail``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status = status
        self.code = code or "http_error"
        super().__init__(detail)


@dataclass
class Remote:
    """The :class:`~apart.cli.backend.Backend` over HTTP."""

    url: str
    client: httpx.Client

    @classmethod
    def open(cls, settings: Settings, url: str) -> Remote:
        headers = {"Accept": "application/json"}
        if settings.api_token:
            headers["Authorization"] = f"Bearer {settings.api_token}"
        base = url.rstrip("/")
        client = httpx.Client(base_url=base, headers=headers,
                              timeout=httpx.Timeout(30.0, connect=5.0))
        return cls(url=base, client=client)

    @property
    def where(self) -> str:
        return f"server {self.url}"

    # -- plumbing --------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> JsonObj:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        return _json_or_raise(response)

    def _unreachable(self, exc: Exception) -> ConfigError:
        return ConfigError(
            f"cannot reach the apart server at {self.url} ({type(exc).__name__}: {exc}); "
            "start it with `apart server` (or `apart-server`) and a worker with "
            "`apart worker`, or unset APART_API_URL to work locally"
        )

    # -- the Backend protocol ----------------------------------------------------------

    def submit(self, sub: Submission) -> JsonObj:
        body: dict[str, Any] = {
            "scenario": sub.scenario_text, "scenario_name": sub.scenario_name,
            "run_id": sub.run_id, "seed": sub.seed, "max_steps": sub.max_steps,
            "save_frequency": sub.save_frequency, "priority": sub.priority,
            "provider": sub.provider_override, "pause_at_step": sub.pause_at_step,
            "budget": _api_budget(sub.budget),
        }
        return self._call("POST", "/api/v1/runs",
                          json={k: v for k, v in body.items() if v is not None})

    def replay(self, run_id: str, new_id: str | None) -> JsonObj:
        body = {"run_id": new_id} if new_id else {}
        return self._call("POST", f"/api/v1/runs/{run_id}/replay", json=body)

    def detail(self, run_id: str) -> JsonObj:
        return self._call("GET", f"/api/v1/runs/{run_id}")

    def runs(self, status: str | None, limit: int, cursor: str | None) -> JsonObj:
        params = {k: v for k, v in {"status": status, "limit": limit, "cursor": cursor}.items()
                  if v is not None}
        return self._call("GET", "/api/v1/runs", params=params)

    def pause(self, run_id: str, force: bool, at_step: int | None) -> JsonObj:
        params: dict[str, Any] = {"force": str(force).lower()}
        if at_step is not None:
            params["at_step"] = at_step
        return self._call("POST", f"/api/v1/runs/{run_id}/pause", params=params)

    def resume(self, run_id: str, budget_usd: float | None = None,
               budget_tokens: int | None = None) -> JsonObj:
        budget = {k: v for k, v in (("usd", budget_usd), ("tokens", budget_tokens))
                  if v is not None}
        body = {"budget": budget} if budget else None
        return self._call("POST", f"/api/v1/runs/{run_id}/resume", json=body)

    def stop(self, run_id: str) -> JsonObj:
        return self._call("POST", f"/api/v1/runs/{run_id}/stop")

    def delete(self, run_id: str) -> JsonObj:
        return self._call("DELETE", f"/api/v1/runs/{run_id}")

    def events(self, run_id: str, after: int, follow: bool) -> Iterator[JsonObj]:
        """The run's event stream; without ``follow``, up to its latest event."""
        detail = self.detail(run_id)
        if not follow and detail["lastEventId"] <= after:
            return
        for envelope in self._stream(run_id, after):
            yield envelope
            if not follow and envelope["id"] >= detail["lastEventId"]:
                return
            if follow and envelope["event_type"] in FINAL_EVENTS:
                now = self.detail(run_id)
                if now["status"] not in ACTIVE and envelope["id"] >= now["lastEventId"]:
                    return

    def _stream(self, run_id: str, after: int) -> Iterator[JsonObj]:
        headers = {"Accept": "text/event-stream", "Last-Event-ID": str(after)}
        timeout = httpx.Timeout(30.0, connect=5.0, read=None)
        try:
            with self.client.stream("GET", f"/api/v1/runs/{run_id}/events", headers=headers,
                                    timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    _json_or_raise(response)
                yield from _sse_data(response.iter_lines())
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def export(self, run_id: str, out: Path) -> Path:
        detail = self.detail(run_id)
        steps = self._call("GET", f"/api/v1/runs/{run_id}/steps")["steps"]
        document = {
            "run_id": run_id, "scenario": detail["scenario"], "seed": detail["seed"],
            "status": detail["status"], "max_steps": detail["maxSteps"],
            "usage": detail["usage"], "snapshots": [snapshot_of(s) for s in steps],
        }
        return write_export(out, document, self.events(run_id, 0, follow=False))

    def follow(self, run_id: str, action: str, progress: Any) -> JsonObj:
        progress.notice(f"a worker of {self.url} runs it; Ctrl+C stops watching "
                        f"(pause it with `apart pause {run_id}`)")
        try:
            for envelope in self.events(run_id, self.detail(run_id)["lastEventId"], True):
                progress.on_envelope(envelope)
        except KeyboardInterrupt:
            progress.notice("stopped watching; the run goes on")
        return self.detail(run_id)

    def detach(self, run_id: str) -> str:
        return f"run {run_id} is queued on {self.url}; a worker will run it"


def _api_budget(budget: dict[str, Any] | None) -> dict[str, Any] | None:
    if not budget:
        return None
    return {"usd": budget.get("max_usd"), "tokens": budget.get("max_tokens")}


def _json_or_raise(response: httpx.Response) -> JsonObj:
    try:
        body = response.json()
    except (json.JSONDecodeError, ValueError):
        body = None
    if response.status_code >= 400:
        detail = body.get("detail") if isinstance(body, dict) else None
        code = body.get("code", "") if isinstance(body, dict) else ""
        if not isinstance(detail, str):
            detail = f"the server answered {response.status_code}: {response.text[:200]}"
        raise RemoteError(response.status_code, code, detail)
    if not isinstance(body, dict):
        raise RemoteError(response.status_code, "bad_response",
                          f"the server answered something that is not a JSON object: "
                          f"{response.text[:200]}")
    return body


def _sse_data(lines: Iterator[str]) -> Iterator[JsonObj]:
    """The JSON ``data:`` of each server-sent event (pings and other fields skipped)."""
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif line == "" and data:
            yield json.loads("\n".join(data))
            data = []

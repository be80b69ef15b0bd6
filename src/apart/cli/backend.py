"""What the CLI asks of apart, whether the runs live here or on a server.

Both backends return the JSON objects of the REST API (DESIGN §6), so every
command prints the same thing in both modes, and ``--json`` prints exactly the
API's objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from apart.runs.lifecycle import Submission

JsonObj = dict[str, Any]


class Follower(Protocol):
    """A live display: fed the run's envelopes (remote) or live events (local)."""

    def notice(self, text: str) -> None: ...


class Backend(Protocol):
    #: where runs live, for messages ("local data in ./.apart", "server http://…")
    where: str

    def submit(self, sub: Submission) -> JsonObj: ...

    def replay(self, run_id: str, new_id: str | None) -> JsonObj:
        """A new run playing ``run_id``'s recorded calls back (no provider call)."""
        ...

    def detail(self, run_id: str) -> JsonObj: ...

    def runs(self, status: str | None, limit: int, cursor: str | None) -> JsonObj: ...

    def pause(self, run_id: str, force: bool, at_step: int | None) -> JsonObj: ...

    def resume(self, run_id: str, budget_usd: float | None = None,
               budget_tokens: int | None = None) -> JsonObj: ...

    def stop(self, run_id: str) -> JsonObj: ...

    def delete(self, run_id: str) -> JsonObj: ...

    def events(self, run_id: str, after: int, follow: bool) -> Iterator[JsonObj]:
        """Event envelopes after ``after``; with ``follow``, until the run stops running."""
        ...

    def export(self, run_id: str, out: Path) -> Path: ...

    def follow(self, run_id: str, action: str, progress: Any) -> JsonObj:
        """Show the run's progress until it stops running; returns its final detail.

        Locally the run executes in this process (Ctrl+C pauses it); against a
        server, a worker executes it and its events are streamed here."""
        ...

    def detach(self, run_id: str) -> str:
        """Make sure the run proceeds without this process; returns a message."""
        ...

"""Live events as Server-Sent Events: one run's, or every run's (DESIGN §6, §7).

The position to replay from is the ``Last-Event-ID`` header (sent by an
``EventSource`` when it reconnects) or, for a first connection, the
``last_event_id`` query parameter; the header wins. A run's stream starts at
its first event by default and stays open after the run ends (it may be
resumed); the all-runs stream starts at "now" by default. With
``follow=false`` either sends the stored events and ends. See
:mod:`apart.api.sse` for the guarantees.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from apart.api.auth import require_token
from apart.api.context import ApiContext, Ctx
from apart.api.history import Position
from apart.api.models import ErrorBody
from apart.api.routes_runs import RunId
from apart.api.sse import AllRunsFeed, EventStream, EventStreamResponse, RunFeed
from apart.errors import InvalidRequest


def _error_doc(description: str) -> dict[str, Any]:
    """An error documented as JSON (the routes' own media type is text/event-stream)."""
    schema = {"$ref": f"#/components/schemas/{ErrorBody.__name__}"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {"description": "an endless stream of `id:`, `event:` and `data:` (JSON envelope) "
                         "records, with `: ping` comments while idle",
          "content": {"text/event-stream": {"schema": {"type": "string"}}}},
    401: _error_doc("no or wrong bearer token"),
    422: _error_doc("a malformed Last-Event-ID"),
}
_EVENT_ID = re.compile(r"[0-9]{1,9}")

router = APIRouter(prefix="/api/v1", tags=["events"], dependencies=[Depends(require_token)],
                   responses=_STREAM_DOC)

LastEventIdQuery = Annotated[str | None, Query(
    max_length=300, description="replay the events after this id (first connection)")]
LastEventIdHeader = Annotated[str | None, Header(
    alias="Last-Event-ID", description="replay the events after this id (reconnection)")]
Follow = Annotated[bool, Query(description="false: send the stored events, then end")]


@router.get("/runs/{run_id}/events", response_class=EventStreamResponse,
            responses={404: _error_doc("no such run")})
async def run_events(run_id: RunId, request: Request, ctx: Ctx,
                     last_event_id: LastEventIdQuery = None,
                     last_event_id_header: LastEventIdHeader = None,
                     follow: Follow = True) -> EventStreamResponse:
    """The run's events: its history (after ``Last-Event-ID``), then live.

    Each event's ``id:`` is the run's event sequence number (1, 2, 3…). The stream
    stays open after the run ends, since it may be resumed."""
    await run_in_threadpool(ctx.store.get_run, run_id)
    after = run_position(run_id, last_event_id_header or last_event_id)
    feed = RunFeed(ctx.store, run_id, after, ctx.sse.batch)
    return EventStreamResponse(EventStream(feed, ctx, request, follow).body())


@router.get("/events", response_class=EventStreamResponse)
async def all_events(request: Request, ctx: Ctx,
                     last_event_id: LastEventIdQuery = None,
                     last_event_id_header: LastEventIdHeader = None,
                     follow: Follow = True) -> EventStreamResponse:
    """Every run's events from now on, or from after ``Last-Event-ID``.

    Each event's ``id:`` is ``<run_id>:<event id>``. Replay continues with the
    events stored after that one, in (timestamp, run id, event id) order."""
    start, sent = await all_runs_position(ctx, last_event_id_header or last_event_id)
    feed = AllRunsFeed(ctx.store, ctx.history, start, ctx.sse.batch, sent)
    return EventStreamResponse(EventStream(feed, ctx, request, follow).body())


def run_position(run_id: str, given: str | None) -> int:
    """The event id to replay after: ``17``, or ``<run_id>:17`` (an all-runs id)."""
    if given is None or not given.strip():
        return 0
    prefix, sep, number = given.strip().rpartition(":")
    if (sep and prefix != run_id) or not _EVENT_ID.fullmatch(number):
        raise InvalidRequest(
            f"Last-Event-ID '{given}' is not an event id of run '{run_id}': give the id "
            "of the last event received (a number)")
    return int(number)


async def all_runs_position(ctx: ApiContext, given: str | None) -> tuple[Position, dict[str, int]]:
    """Where the all-runs replay starts, and the id already sent of the run named."""
    now: Position = (datetime.now(UTC), "", 0)
    if given is None or not given.strip():
        return now, {}
    run_id, sep, number = given.strip().rpartition(":")
    if not sep or not run_id or not _EVENT_ID.fullmatch(number):
        raise InvalidRequest(
            f"Last-Event-ID '{given}' is not an id of the all-runs stream: give the id of "
            "the last event received, '<run_id>:<event id>'")
    event_id = int(number)
    found = await run_in_threadpool(ctx.store.events, run_id, event_id - 1, 1)
    if not found or found[0].id != event_id:  # unknown (deleted?) event: start from now
        return now, {}
    return (found[0].timestamp, run_id, event_id), {run_id: event_id}

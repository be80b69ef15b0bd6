"""The durable run store on SQLAlchemy Core: SQLite or PostgreSQL (DESIGN §5, §7, §9).

Every public method is one transaction. Status and control changes are
conditional updates (``WHERE status IN expected AND version = read version``,
bumping ``version``); writes by the executing process are fenced by the run's
``epoch`` and an active status, so a process that lost its lease writes
nothing. Event ids come from ``runs.last_event_id``, bumped in the same
transaction as the events are written, so they run 1, 2, 3… per run without gaps.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Row,
    Select,
    Update,
    bindparam,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from apart.errors import InvalidRequest, InvalidTransition, LeaseLost, RunIdTaken, RunNotFound
from apart.runs.records import (
    CheckpointRecord,
    EventRecord,
    LLMCallRecord,
    NewEvent,
    NewRun,
    RunRecord,
)
from apart.runs.status import ACTIVE, TERMINAL, RunStatus, can_transition
from apart.runs.tables import UTCDateTime, checkpoints, events, llm_calls, runs, writing

Clock = Callable[[], datetime]
EventSink = Callable[[list[EventRecord]], None]
#: key in a connection's ``info`` collecting the events written by its transaction
_WRITTEN = "apart_written_events"

ZERO_USAGE: dict[str, Any] = {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "calls": 0}

_RUN_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunRecord))
#: fields only the store itself changes (through transitions, claims and events)
_MANAGED = frozenset(
    {"id", "status", "version", "epoch", "last_event_id", "created_at", "updated_at"}
)
#: fields callers may set through ``**fields``
UPDATABLE_FIELDS = frozenset(_RUN_FIELDS) - _MANAGED
_LLM_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(LLMCallRecord))
_ACTIVE_VALUES = tuple(s.value for s in ACTIVE)
#: a conditional update that keeps losing to concurrent version bumps gives up after this
_MAX_ATTEMPTS = 50


def utcnow() -> datetime:
    return datetime.now(UTC)


class SqlRunStore:
    """:class:`apart.runs.records.RunStore` on a migrated engine from ``open_engine``.

    Beyond the protocol's contract:

    * ``transition``/``finish`` into ``paused`` stamp ``paused_at``, into
      ``completed``/``stopped`` stamp ``completed_at`` (``**fields`` may override);
    * ``heartbeat``, ``save_step`` and ``finish`` are fenced by epoch *and* an
      active status (running/pausing): once a run is interrupted, paused or ended,
      its former owner gets LeaseLost even before anyone claims it again;
    * ``save_step`` and ``heartbeat`` do not bump ``version`` (they are not control
      changes), so they never make a concurrent pause or stop request retry;
    * ``list_runs`` raises InvalidRequest for a bad cursor, status or limit;
      ``events``/``checkpoints``/``llm_calls`` of an unknown run are empty lists;
    * ``clock`` must return timezone-aware datetimes; naive ones are refused.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock | None = None,
        on_events: EventSink | None = None,
    ) -> None:
        """``on_events`` receives the events of each transaction once it has committed
        (the server and workers publish them live); it must not raise."""
        self._engine = engine
        self._writer = writing(engine)
        self._clock: Clock = clock or utcnow
        self._on_events = on_events

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- transactions --------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.begin() as conn:
            conn.info[_WRITTEN] = []
            yield conn
            written: list[EventRecord] = conn.info.pop(_WRITTEN, [])
        if written and self._on_events is not None:
            self._on_events(written)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            yield conn

    # -- runs ----------------------------------------------------------------------

    def create_run(self, new: NewRun, events: Sequence[NewEvent] = ()) -> RunRecord:
        now = self._now()
        values = _new_run_values(new, now, last_event_id=len(events))
        try:
            with self._write() as conn:
                conn.execute(insert(runs).values(values))
                _insert_events(conn, new.id, 1, events, now)
        except IntegrityError as exc:
            if self._exists(new.id):
                raise RunIdTaken(new.id) from exc
            raise
        return _record(values)

    def get_run(self, run_id: str) -> RunRecord:
        with self._read() as conn:
            return _record(_row(conn, run_id)._mapping)

    def list_runs(
        self, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[RunRecord], str | None]:
        """Runs newest first; the cursor of the next page, or None after the last one."""
        if limit < 1:
            raise InvalidRequest(f"limit must be at least 1, not {limit}")
        order = (runs.c.created_at.desc(), runs.c.id.desc())
        query = _filter_status(select(runs), status).order_by(*order).limit(limit + 1)
        if cursor is not None:
            created_at, run_id = decode_cursor(cursor)
            query = query.where(tuple_(runs.c.created_at, runs.c.id) < (created_at, run_id))
        with self._read() as conn:
            rows = conn.execute(query).all()
        page = [_record(row._mapping) for row in rows[:limit]]
        more = len(rows) > limit
        return page, (encode_cursor(page[-1].created_at, page[-1].id) if more else None)

    def count_runs(self, status: str | None = None) -> int:
        with self._read() as conn:
            query = _filter_status(select(func.count()).select_from(runs), status)
            return int(conn.execute(query).scalar_one())

    def delete_run(self, run_id: str) -> None:
        """Delete the run and everything it owns; refused while a process may run it."""
        with self._write() as conn:
            query = select(runs.c.status).where(runs.c.id == run_id).with_for_update()
            status = conn.execute(query).scalar_one_or_none()
            if status is None:
                raise RunNotFound(run_id)
            if status in _ACTIVE_VALUES:
                raise InvalidTransition(run_id, status, "delete", hint="pause or stop it first")
            for child in (llm_calls, events, checkpoints):
                conn.execute(delete(child).where(child.c.run_id == run_id))
            conn.execute(delete(runs).where(runs.c.id == run_id))

    # -- status and control changes ------------------------------------------------

    def transition(
        self,
        run_id: str,
        to: RunStatus,
        *,
        expected: Iterable[RunStatus],
        action: str,
        events: Sequence[NewEvent] = (),
        **fields: Any,
    ) -> RunRecord:
        """Move the run to ``to`` if its status is expected and the table allows it.

        Entering ``paused`` stamps ``paused_at`` and entering ``completed`` or
        ``stopped`` stamps ``completed_at``, unless ``fields`` sets them.
        """
        to = RunStatus(to)
        values = _checked_fields(fields)
        return self._change(
            run_id, _statuses(expected), action, events, to=to,
            values=lambda now: {**_stamps(to, now), **values},
        )

    def update_run(
        self,
        run_id: str,
        *,
        expected: Iterable[RunStatus],
        action: str,
        events: Sequence[NewEvent] = (),
        **fields: Any,
    ) -> RunRecord:
        """Set control fields (pause_request, stop_requested…) if the status is expected."""
        values = _checked_fields(fields)
        return self._change(
            run_id, _statuses(expected), action, events, to=None, values=lambda _now: values
        )

    def claim(
        self,
        run_id: str,
        owner: str,
        *,
        expected: Iterable[RunStatus] = (RunStatus.PENDING,),
        events: Sequence[NewEvent] = (),
    ) -> RunRecord:
        """Take the run for ``owner``: ``running``, with a new epoch; one claimer wins."""

        def values(now: datetime) -> dict[str, Any]:
            return {
                "epoch": runs.c.epoch + 1,
                "owner": owner,
                "heartbeat_at": now,
                "started_at": func.coalesce(runs.c.started_at, now),
                "pause_request": None,
                "pause_reason": None,
                "error": None,
                "stop_requested": False,
                "paused_at": None,
            }

        return self._change(
            run_id, _statuses(expected), "claim", events, to=RunStatus.RUNNING, values=values
        )

    def _change(
        self,
        run_id: str,
        expected: frozenset[RunStatus],
        action: str,
        new_events: Sequence[NewEvent],
        *,
        to: RunStatus | None,
        values: Callable[[datetime], dict[str, Any]],
    ) -> RunRecord:
        """The conditional update behind transition, update_run and claim."""
        now = self._now()
        changes = {**values(now), "version": runs.c.version + 1, "updated_at": now}
        if to is not None:
            changes["status"] = to.value
        status = None
        with self._write() as conn:
            for _ in range(_MAX_ATTEMPTS):
                row = _row(conn, run_id)
                status = RunStatus(row.status)
                if status not in expected or (to is not None and not can_transition(status, to)):
                    raise InvalidTransition(run_id, status.value, action)
                guard = (runs.c.status.in_([s.value for s in expected]),
                         runs.c.version == row.version)
                new = _update_returning(conn, run_id, guard, changes, len(new_events))
                if new is not None:
                    _insert_new_events(conn, new, new_events, now)
                    return _record(new._mapping)
        raise InvalidTransition(
            run_id, str(status), action, hint="it kept changing during the request; try again"
        )

    # -- writes by the executing process (fenced by epoch) --------------------------

    def heartbeat(self, run_id: str, epoch: int) -> RunRecord:
        """Record that the owner of ``epoch`` is alive; LeaseLost if it no longer owns the run."""
        params = {"p_id": run_id, "p_epoch": epoch, "p_now": self._now()}
        with self._write() as conn:
            row = conn.execute(_HEARTBEAT, params).one_or_none()
            if row is None:
                raise _lease_lost(conn, run_id, epoch)
            return _record(row._mapping)

    def save_step(
        self,
        run_id: str,
        epoch: int,
        step: int,
        checkpoint: dict[str, Any],
        events: Sequence[NewEvent] = (),
        calls: Sequence[LLMCallRecord] = (),
        **fields: Any,
    ) -> RunRecord:
        """Make step ``step`` durable: run fields, its checkpoint, its events and the LLM
        calls made since the last save, atomically."""
        values = _checked_fields(fields)
        now = self._now()
        params = {f"p_{name}": value for name, value in values.items()}
        params.update(p_id=run_id, p_epoch=epoch, p_step=step, p_now=now, p_n=len(events))
        with self._write() as conn:
            row = conn.execute(_step_update(tuple(values)), params).one_or_none()
            if row is None:
                raise _lease_lost(conn, run_id, epoch)
            conn.execute(
                _checkpoint_upsert(conn.dialect.name),
                {"run_id": run_id, "step": step, "data": checkpoint, "created_at": now},
            )
            _insert_new_events(conn, row, events, now)
            if calls:
                conn.execute(insert(llm_calls), _call_rows(calls, now))
            return _record(row._mapping)

    def finish(
        self,
        run_id: str,
        epoch: int,
        to: RunStatus,
        *,
        events: Sequence[NewEvent] = (),
        **fields: Any,
    ) -> RunRecord:
        """End the owner's execution: running/pausing → ``to`` (paused, completed…)."""
        to = RunStatus(to)
        values = _checked_fields(fields)
        now = self._now()
        changes = {**_stamps(to, now), **values, "status": to.value,
                   "version": runs.c.version + 1, "updated_at": now}
        with self._write() as conn:
            for _ in range(_MAX_ATTEMPTS):
                row = _row(conn, run_id)
                if row.epoch != epoch or row.status not in _ACTIVE_VALUES:
                    raise LeaseLost(run_id, epoch)
                if not can_transition(row.status, to):
                    raise InvalidTransition(run_id, row.status, f"finish as {to.value}")
                guard = (*_fence(epoch), runs.c.version == row.version)
                new = _update_returning(conn, run_id, guard, changes, len(events))
                if new is not None:
                    _insert_new_events(conn, new, events, now)
                    return _record(new._mapping)
        raise LeaseLost(run_id, epoch)

    # -- events --------------------------------------------------------------------

    def append_events(self, run_id: str, events: Sequence[NewEvent]) -> list[EventRecord]:
        """Append events to the run, whatever its status or owner (lifecycle events)."""
        if not events:
            self.get_run(run_id)
            return []
        now = self._now()
        with self._write() as conn:
            stmt = (
                update(runs)
                .where(runs.c.id == run_id)
                .values(last_event_id=runs.c.last_event_id + len(events))
                .returning(runs.c.last_event_id)
            )
            last = conn.execute(stmt).scalar_one_or_none()
            if last is None:
                raise RunNotFound(run_id)
            return _insert_events(conn, run_id, last - len(events) + 1, events, now)

    def events(self, run_id: str, after_id: int = 0, limit: int = 1000) -> list[EventRecord]:
        """Events with id > ``after_id``, oldest first (an unknown run has none)."""
        query = (
            select(events)
            .where(events.c.run_id == run_id, events.c.id > after_id)
            .order_by(events.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [EventRecord(**row._mapping) for row in conn.execute(query)]

    # -- checkpoints ---------------------------------------------------------------

    def latest_checkpoint(self, run_id: str) -> CheckpointRecord | None:
        query = (
            select(checkpoints)
            .where(checkpoints.c.run_id == run_id)
            .order_by(checkpoints.c.step.desc())
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else CheckpointRecord(**row._mapping)

    def checkpoints(
        self, run_id: str, from_step: int | None = None, to_step: int | None = None
    ) -> list[CheckpointRecord]:
        """Checkpoints with from_step <= step <= to_step (bounds optional), ascending."""
        query = select(checkpoints).where(checkpoints.c.run_id == run_id)
        if from_step is not None:
            query = query.where(checkpoints.c.step >= from_step)
        if to_step is not None:
            query = query.where(checkpoints.c.step <= to_step)
        with self._read() as conn:
            rows = conn.execute(query.order_by(checkpoints.c.step)).all()
        return [CheckpointRecord(**row._mapping) for row in rows]

    # -- LLM calls -----------------------------------------------------------------

    def record_llm_calls(self, calls: Sequence[LLMCallRecord]) -> None:
        if not calls:
            return
        try:
            with self._write() as conn:
                conn.execute(insert(llm_calls), _call_rows(calls, self._now()))
        except IntegrityError as exc:
            for run_id in dict.fromkeys(call.run_id for call in calls):
                if not self._exists(run_id):
                    raise RunNotFound(run_id) from exc
            raise

    def llm_calls(self, run_id: str) -> list[LLMCallRecord]:
        """The run's LLM calls in the order they were recorded."""
        query = select(llm_calls).where(llm_calls.c.run_id == run_id).order_by(llm_calls.c.id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [LLMCallRecord(**{name: row._mapping[name] for name in _LLM_FIELDS}) for row in rows]

    # -- helpers -------------------------------------------------------------------

    def _exists(self, run_id: str) -> bool:
        with self._read() as conn:
            found = conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first()
        return found is not None


# -- cursors -------------------------------------------------------------------------


_BAD_CURSOR = "invalid cursor {cursor!r}: pass back the cursor of the previous page unchanged"


def _call_rows(calls: Sequence[LLMCallRecord], now: datetime) -> list[dict[str, Any]]:
    return [{**call.__dict__, "created_at": call.created_at or now} for call in calls]


def encode_cursor(created_at: datetime, run_id: str) -> str:
    """An opaque list_runs cursor: the position after the run (created_at, id)."""
    raw = f"{created_at.astimezone(UTC).isoformat()}|{run_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position in a cursor from encode_cursor; InvalidRequest if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, run_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(_BAD_CURSOR.format(cursor=cursor)) from exc
    if created_at.tzinfo is None:
        raise InvalidRequest(_BAD_CURSOR.format(cursor=cursor))
    return created_at, run_id


# -- statements ------------------------------------------------------------------------


def _row(conn: Connection, run_id: str) -> Row[Any]:
    row = conn.execute(_GET_RUN, {"p_id": run_id}).one_or_none()
    if row is None:
        raise RunNotFound(run_id)
    return row


def _fence(epoch: int) -> tuple[Any, ...]:
    """The run is still executed by the owner of ``epoch``."""
    return (runs.c.epoch == epoch, runs.c.status.in_(_ACTIVE_VALUES))


def _fenced(stmt: Update) -> Update:
    """``stmt`` restricted to run ``p_id`` while the owner of epoch ``p_epoch`` executes it."""
    return stmt.where(
        runs.c.id == bindparam("p_id"),
        runs.c.epoch == bindparam("p_epoch"),
        runs.c.status.in_(_ACTIVE_VALUES),
    )


# statements run often enough to build once (per process) rather than per call
_GET_RUN = select(runs).where(runs.c.id == bindparam("p_id"))
_INSERT_EVENTS = insert(events)
_HEARTBEAT = (
    _fenced(update(runs))
    .values(heartbeat_at=bindparam("p_now", type_=UTCDateTime()))
    .returning(*runs.c)
)


def _lease_lost(conn: Connection, run_id: str, epoch: int) -> Exception:
    """The error for a fenced write that matched no row."""
    _row(conn, run_id)  # RunNotFound if the run is gone altogether
    return LeaseLost(run_id, epoch)


def _update_returning(
    conn: Connection,
    run_id: str,
    guard: Iterable[Any],
    changes: dict[str, Any],
    n_events: int,
) -> Row[Any] | None:
    """UPDATE the run where ``guard`` holds, reserving ids for ``n_events``; the new row."""
    if n_events:
        changes = {**changes, "last_event_id": runs.c.last_event_id + n_events}
    stmt = update(runs).where(runs.c.id == run_id, *guard).values(changes).returning(*runs.c)
    return conn.execute(stmt).one_or_none()


@lru_cache(maxsize=4)
def _checkpoint_upsert(dialect_name: str) -> Insert:
    """INSERT a checkpoint, replacing the one of the same step if there is one."""
    if dialect_name == "postgresql":  # imported here: the dialect costs ~90 ms to load
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(checkpoints)
    return stmt.on_conflict_do_update(
        index_elements=[checkpoints.c.run_id, checkpoints.c.step],
        set_={"data": stmt.excluded.data, "created_at": stmt.excluded.created_at},
    )


@lru_cache(maxsize=64)
def _step_update(fields: tuple[str, ...]) -> Update:
    """The fenced run update of save_step, setting ``fields`` (params ``p_<name>``)."""
    values: dict[str, Any] = {
        name: bindparam(f"p_{name}", type_=runs.c[name].type) for name in fields
    }
    values.update(
        current_step=bindparam("p_step"),
        updated_at=bindparam("p_now", type_=UTCDateTime()),
        last_event_id=runs.c.last_event_id + bindparam("p_n"),
    )
    return _fenced(update(runs)).values(values).returning(*runs.c)


def _insert_new_events(
    conn: Connection, run: Row[Any], new_events: Sequence[NewEvent], now: datetime
) -> list[EventRecord]:
    """Write events whose ids were just reserved by bumping ``run.last_event_id``."""
    first_id = run.last_event_id - len(new_events) + 1
    return _insert_events(conn, run.id, first_id, new_events, now)


def _insert_events(
    conn: Connection, run_id: str, first_id: int, new_events: Sequence[NewEvent], now: datetime
) -> list[EventRecord]:
    records = [
        EventRecord(
            id=first_id + offset,
            run_id=run_id,
            event_type=_plain(event.event_type),
            step=event.step,
            timestamp=event.timestamp or now,
            data=dict(event.data),
        )
        for offset, event in enumerate(new_events)
    ]
    if records:
        conn.execute(_INSERT_EVENTS, [record.__dict__ for record in records])
        conn.info.setdefault(_WRITTEN, []).extend(records)
    return records


def _filter_status(query: Select[Any], status: str | None) -> Select[Any]:
    if status is None:
        return query
    try:
        value = RunStatus(status).value
    except ValueError as exc:
        known = ", ".join(s.value for s in RunStatus)
        raise InvalidRequest(f"unknown status {status!r}; use one of {known}") from exc
    return query.where(runs.c.status == value)


# -- values ----------------------------------------------------------------------------


def _new_run_values(new: NewRun, now: datetime, last_event_id: int) -> dict[str, Any]:
    return {
        "id": new.id,
        "scenario_name": new.scenario_name,
        "scenario_text": new.scenario_text,
        "seed": new.seed,
        "max_steps": new.max_steps,
        "save_frequency": new.save_frequency,
        "priority": _plain(new.priority),
        "provider_override": new.provider_override,
        "status": RunStatus.PENDING.value,
        "version": 1,
        "epoch": 0,
        "current_step": None,
        "pause_reason": None,
        "pause_request": None,
        "pause_at_step": new.pause_at_step,
        "stop_requested": False,
        "error": None,
        "agent_names": list(new.agent_names),
        "usage": dict(ZERO_USAGE),
        "danger_count": 0,
        "options": dict(new.options),
        "owner": None,
        "last_event_id": last_event_id,
        "recoveries": 0,
        "created_at": now,
        "updated_at": now,
        "started_at": None,
        "paused_at": None,
        "completed_at": None,
        "heartbeat_at": None,
    }


def _record(row: Any) -> RunRecord:
    """A RunRecord from a row mapping (or a dict with every run column)."""
    values = {name: row[name] for name in _RUN_FIELDS}
    values["status"] = RunStatus(values["status"])
    return RunRecord(**values)


def _checked_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` as column values; TypeError for names callers may not set."""
    unknown = sorted(set(fields) - UPDATABLE_FIELDS)
    if unknown:
        managed = [name for name in unknown if name in _MANAGED]
        why = f" ({', '.join(managed)} are managed by the store)" if managed else ""
        raise TypeError(f"unknown or read-only run field(s): {', '.join(unknown)}{why}")
    return {name: _plain(value) for name, value in fields.items()}


def _plain(value: Any) -> Any:
    """Enum members as their values (database drivers may store an Enum's name)."""
    return value.value if isinstance(value, Enum) else value


def _statuses(expected: Iterable[RunStatus | str]) -> frozenset[RunStatus]:
    return frozenset(RunStatus(s) for s in expected)


def _stamps(to: RunStatus, now: datetime) -> dict[str, Any]:
    """Timestamps that entering ``to`` sets by default."""
    if to is RunStatus.PAUSED:
        return {"paused_at": now}
    if to in TERMINAL:
        return {"completed_at": now}
    return {}

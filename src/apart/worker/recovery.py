"""Crash recovery: runs whose worker died are interrupted and queued again (DESIGN §9).

* :func:`recover_stale_runs` — a ``running``/``pausing`` run whose owner is gone
  (heartbeat older than ``heartbeat_timeout``, or a dead process on this host)
  becomes ``interrupted`` with a ``simulation_interrupted`` event; an
  ``interrupted`` run that has been recovered fewer than ``max_recoveries``
  times goes back to ``pending`` (``recoveries`` + 1) and gets a new job at its
  priority — unless a stop was pending (it becomes ``stopped``) or a pause was
  (it stays ``interrupted``, for the user to resume). Runs left ``interrupted``
  by someone else (the API noticing a dead worker, a crash between the two
  steps) are recovered once they are older than the timeout, so that a worker
  that gave a run back on shutdown queues it itself.
* :func:`requeue_orphans` — a ``pending`` run that has had no job for longer
  than the timeout (Redis lost its queues, or queueing failed) gets one.

Every change is a conditional transition, so any number of reapers may run at
once: for each run exactly one wins, and only the winner queues a job.
:class:`Reaper` runs both sweeps periodically in a background thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from apart.config import Settings
from apart.errors import InvalidTransition, RunNotFound
from apart.runs import events as ev
from apart.runs import lifecycle
from apart.runs.records import RunRecord, RunStore
from apart.runs.status import ACTIVE, RunStatus
from apart.worker.queue import enqueue_run, queued_run_ids

log = logging.getLogger(__name__)
S = RunStatus

#: default bound on automatic recoveries when the settings have none
DEFAULT_MAX_RECOVERIES = 3
_PAGE = 200
#: Redis key that lets one reaper at a time queue an orphaned run
_ORPHAN_LOCK = "apart:orphan-requeue:{run_id}"


def max_recoveries(settings: Settings) -> int:
    return int(getattr(settings, "max_recoveries", DEFAULT_MAX_RECOVERIES))


def recover_stale_runs(store: RunStore, redis: Any, settings: Settings) -> list[str]:
    """Interrupt runs whose worker went silent; queue interrupted runs again.

    Returns the ids of the runs this call put back in the queue."""
    recovered: list[str] = []
    for run in _runs(store, ACTIVE):
        reaped = lifecycle.reap_if_dead(store, run, settings.heartbeat_timeout)
        if reaped.status != S.INTERRUPTED:
            continue
        log.warning("run %s: its worker (%s) went silent; interrupted", run.id, run.owner)
        if _requeue_interrupted(store, redis, reaped, settings, announce=True):
            recovered.append(run.id)
    cutoff = _now() - timedelta(seconds=settings.heartbeat_timeout)
    for run in _runs(store, (S.INTERRUPTED,)):
        if run.updated_at <= cutoff and _requeue_interrupted(store, redis, run, settings):
            recovered.append(run.id)
    return recovered


def requeue_orphans(store: RunStore, redis: Any, settings: Settings) -> list[str]:
    """Queue a job for every run pending longer than the timeout without one.

    Returns the ids of the runs queued."""
    cutoff = _now() - timedelta(seconds=settings.heartbeat_timeout)
    candidates = [run for run in _runs(store, (S.PENDING,)) if run.updated_at <= cutoff]
    if not candidates:
        return []
    queued = queued_run_ids(redis)
    requeued: list[str] = []
    for candidate in candidates:
        if candidate.id in queued:
            continue
        try:  # read again: it may have been claimed while the queues were read
            run = store.get_run(candidate.id)
        except RunNotFound:
            continue
        if run.status != S.PENDING or not _lock_orphan(redis, run.id, settings):
            continue
        enqueue_run(redis, run.id, run.priority)
        log.warning("run %s: pending without a job (lost by Redis?); queued again", run.id)
        requeued.append(run.id)
    return requeued


def sweep(store: RunStore, redis: Any, settings: Settings) -> list[str]:
    """Both recoveries; Redis being down only delays the queueing part."""
    done = recover_stale_runs(store, redis, settings)
    try:
        done += requeue_orphans(store, redis, settings)
    except Exception as exc:
        log.warning("could not look for runs without a job (%s); will try again", exc)
    return done


def _requeue_interrupted(
    store: RunStore, redis: Any, run: RunRecord, settings: Settings, *, announce: bool = False
) -> bool:
    if run.stop_requested or run.pause_request is not None:
        return _honour_request(store, run)
    limit = max_recoveries(settings)
    if run.recoveries >= limit:
        if announce:
            log.warning("run %s: recovered %d times already; left interrupted (resume it "
                        "by hand)", run.id, run.recoveries)
        return False
    attempt = run.recoveries + 1
    try:
        resumed = store.transition(
            run.id, S.PENDING, expected=[S.INTERRUPTED], action="recover",
            events=[ev.event("simulation_resumed", run.current_step, from_step=run.current_step,
                             previous_status=S.INTERRUPTED.value, recovery=attempt)],
            recoveries=attempt,
        )
    except (InvalidTransition, RunNotFound):  # another reaper or a user got there first
        return False
    try:
        enqueue_run(redis, resumed.id, resumed.priority)
    except Exception as exc:  # the orphan sweep queues it once Redis is back
        log.warning("run %s: recovered but not queued yet (%s)", run.id, exc)
    log.info("run %s: queued again from step %s (recovery %d of %d)",
             run.id, run.current_step, attempt, limit)
    return True


def _honour_request(store: RunStore, run: RunRecord) -> bool:
    """A run whose worker died while a stop or pause was pending is not queued again:
    a stop becomes ``stopped``; a pause leaves it ``interrupted`` for the user to resume."""
    if run.stop_requested:
        try:
            store.transition(run.id, S.STOPPED, expected=[S.INTERRUPTED], action="stop",
                             events=[ev.event("simulation_stopped", run.current_step, by="user")])
            log.info("run %s: its worker died while it was stopping; stopped", run.id)
        except (InvalidTransition, RunNotFound):
            pass
    return False


def _lock_orphan(redis: Any, run_id: str, settings: Settings) -> bool:
    ttl_ms = max(1, int(settings.heartbeat_timeout * 1000))
    return bool(redis.set(_ORPHAN_LOCK.format(run_id=run_id), "1", nx=True, px=ttl_ms))


def _runs(store: RunStore, statuses: Iterable[RunStatus]) -> Iterator[RunRecord]:
    for status in statuses:
        cursor: str | None = None
        while True:
            page, cursor = store.list_runs(status=status.value, limit=_PAGE, cursor=cursor)
            yield from page
            if cursor is None:
                break


def _now() -> datetime:
    return datetime.now(UTC)


class Reaper:
    """Runs :func:`sweep` every ``interval`` seconds in a daemon thread.

    Default interval: a third of the heartbeat timeout."""

    def __init__(self, store: RunStore, redis: Any, settings: Settings,
                 interval: float | None = None) -> None:
        self.store = store
        self.redis = redis
        self.settings = settings
        self.interval = interval if interval is not None else settings.heartbeat_timeout / 3
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="apart-reaper", daemon=True)

    def start(self) -> Reaper:
        self._thread.start()
        return self

    def stop(self, wait: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(wait)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                sweep(self.store, self.redis, self.settings)
            except Exception as exc:  # the database is briefly unavailable: next time
                log.warning("recovery sweep failed (%s: %s); will try again",
                            type(exc).__name__, exc)
                log.debug("recovery sweep failure", exc_info=True)

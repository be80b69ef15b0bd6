"""The worker process a job runs in, when it is an ``apart worker``.

:class:`~apart.worker.runner.ApartWorker` binds its context for the length of
each job; :func:`~apart.worker.jobs.advance_run` then reuses the worker's store
and Redis and registers its run in the worker's slot (so SIGTERM can give it
back). Under a plain ``rq worker`` nothing is bound and the job opens its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from apart.worker.resources import WorkerResources
from apart.worker.slot import RunSlot


@dataclass
class WorkerContext:
    resources: WorkerResources
    slot: RunSlot = field(default_factory=RunSlot)


_current: ContextVar[WorkerContext | None] = ContextVar("apart_worker_context", default=None)


def current_context() -> WorkerContext | None:
    return _current.get()


@contextmanager
def bound(context: WorkerContext) -> Iterator[WorkerContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)

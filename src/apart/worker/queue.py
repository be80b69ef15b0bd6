"""The three priority queues of DESIGN §9 and how a run is put on one.

A job means "advance run R from its last checkpoint until it pauses, completes
or fails". It carries only the run id: everything else is read from the store,
so a job is safe to run twice (the claim lets only one execute) and a plain
``rq worker simulations`` can run it.
"""

from __future__ import annotations

from typing import Any

QUEUES: dict[str, str] = {
    "high": "simulations-high",
    "normal": "simulations",
    "low": "simulations-low",
}
#: the order `apart worker` listens in
LISTEN_ORDER: tuple[str, ...] = (QUEUES["high"], QUEUES["normal"], QUEUES["low"])
JOB_FUNCTION = "apart.worker.jobs.advance_run"
#: a job may run for hours (a long run); RQ's default timeout would kill it
JOB_TIMEOUT = -1


def queue_name(priority: str) -> str:
    return QUEUES.get(priority, QUEUES["normal"])


def enqueue_run(redis: Any, run_id: str, priority: str = "normal") -> str:
    """Queue a job for the run; returns the RQ job id."""
    from rq import Queue

    queue = Queue(queue_name(priority), connection=redis)
    job = queue.enqueue(JOB_FUNCTION, run_id, job_timeout=JOB_TIMEOUT,
                        description=f"advance run {run_id}", result_ttl=3600,
                        failure_ttl=7 * 24 * 3600)
    return str(job.id)

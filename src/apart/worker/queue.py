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


def queued_run_ids(redis: Any) -> set[str]:
    """Runs with a job waiting in one of the queues or taken by a worker.

    Reads every job id of the three queues (and their in-flight lists and
    started registries) and the run id each job carries: O(queued jobs)."""
    from rq import Queue
    from rq.intermediate_queue import IntermediateQueue
    from rq.job import Job

    job_ids: list[str] = []
    for name in LISTEN_ORDER:
        queue = Queue(name, connection=redis)
        job_ids += queue.get_job_ids()
        job_ids += IntermediateQueue(queue.key, redis).get_job_ids()
        job_ids += queue.started_job_registry.get_job_ids(cleanup=False)
    run_ids: set[str] = set()
    for job in Job.fetch_many(list(dict.fromkeys(job_ids)), connection=redis):
        run_id = _run_of(job)
        if run_id is not None:
            run_ids.add(run_id)
    return run_ids


def _run_of(job: Any) -> str | None:
    if job is None:
        return None
    try:
        if job.func_name != JOB_FUNCTION or not job.args:
            return None
        return str(job.args[0])
    except Exception:  # a job this version cannot read is not one of ours
        return None

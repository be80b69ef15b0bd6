"""``apart worker``: execute runs from the three priority queues (DESIGN §9).

The worker is an RQ :class:`~rq.SimpleWorker`: each job runs in this process,
so SIGTERM and SIGINT reach the run being executed. On the first signal the
run is given back — the step in progress is discarded, completed steps are
kept, the run goes back to ``pending`` with a new job — and the worker exits
(0); a second signal more than a second later exits at once (the run is then
recovered by another worker's reaper). Deploying workers loses no work.

Every worker also runs the recovery sweep (:class:`~apart.worker.recovery.Reaper`)
and outlives Redis outages: when Redis goes away the work loop is started again
with backoff, and runs lost from the queues are queued again by the sweep.

Run it as ``python -m apart.worker.runner [QUEUE ...] [--burst] [--name NAME]``
(``apart worker`` calls :func:`run_worker`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.queue import Queue
from rq.worker import WorkerStatus

from apart.config import Settings
from apart.errors import ConfigError
from apart.runs.database import safe_url
from apart.worker.context import WorkerContext, bound
from apart.worker.queue import LISTEN_ORDER
from apart.worker.recovery import Reaper
from apart.worker.resources import connect_redis, open_resources

log = logging.getLogger(__name__)

#: longest wait between attempts to reach Redis
MAX_REDIS_BACKOFF_S = 5.0
#: a second shutdown signal within this many seconds of the first is the same request
_SIGNAL_DEBOUNCE_S = 1.0
#: a work loop that lasted this long was healthy: the next restart waits little
_HEALTHY_S = 60.0


class ApartWorker(SimpleWorker):
    """A SimpleWorker whose shutdown signals give back the run being executed."""

    def __init__(self, queues: Sequence[str], *, context: WorkerContext, **kwargs: Any) -> None:
        super().__init__(list(queues), **kwargs)
        self.context = context
        #: the queues were empty in burst mode (a normal end)
        self.drained = False
        self.max_connection_wait_time = MAX_REDIS_BACKOFF_S
        self._signalled_at: float | None = None

    # -- signals ---------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self._on_shutdown_signal)
        signal.signal(signal.SIGTERM, self._on_shutdown_signal)

    def _on_shutdown_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        slot = self.context.slot
        if slot.releasing:
            if self._signalled_at and time.monotonic() - self._signalled_at < _SIGNAL_DEBOUNCE_S:
                return
            log.warning("worker %s: %s again: exiting now; the run in progress will be "
                        "recovered by another worker", self.name, name)
            raise SystemExit(1)
        self._signalled_at = time.monotonic()
        self._stop_requested = True
        if slot.release() or self.get_state() == WorkerStatus.BUSY:
            log.warning("worker %s: %s: giving back the run in progress, then exiting "
                        "(%s again to exit at once)", self.name, name, name)
            return
        log.info("worker %s: %s: exiting", self.name, name)
        raise StopRequested()

    # -- the work loop ---------------------------------------------------------------

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        if result is None:
            self.drained = True
        return result

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job here with the worker's resources bound, keeping RQ's heartbeats."""
        execution = self.prepare_execution(job)
        keeper = _RQHeartbeat(self, job, execution).start()
        try:
            with bound(self.context):
                self.perform_job(job, queue, execution)
        finally:
            keeper.stop()
        self.set_state(WorkerStatus.IDLE)


class _RQHeartbeat:
    """Keeps the worker and its job alive in RQ's registries during a long job
    (every ``job_monitoring_interval`` seconds, as RQ's forking worker does)."""

    def __init__(self, worker: ApartWorker, job: Job, execution: Any) -> None:
        self.worker = worker
        self.job = job
        self.execution = execution
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="apart-rq-heartbeat",
                                        daemon=True)

    def start(self) -> _RQHeartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.worker.job_monitoring_interval):
            try:
                self.worker.maintain_heartbeats(self.job, self.execution)
            except Exception as exc:  # Redis away: RQ's bookkeeping only, the run goes on
                log.debug("RQ heartbeat failed: %s", exc)


def default_worker_name() -> str:
    """``host.pid``: matches the ``host:pid:start`` owner recorded on the runs it executes."""
    return f"{socket.gethostname()}.{os.getpid()}"


def run_worker(
    settings: Settings,
    queues: Sequence[str] = LISTEN_ORDER,
    burst: bool = False,
    name: str | None = None,
) -> int:
    """Work until a shutdown signal (or, with ``burst``, until the queues are empty).

    Returns the exit code (0). Raises :class:`~apart.errors.ConfigError` when the
    database cannot be used; waits for Redis if it is not reachable."""
    name = name or default_worker_name()
    resources = open_resources(settings)
    context = WorkerContext(resources)
    log.info("worker %s: queues %s; database %s; redis %s", name,
             ", ".join(queues), safe_url(settings.resolved_database_url()),
             safe_url(settings.redis_url))
    rq_redis = connect_redis(settings.redis_url, command_timeout=None)
    reaper = Reaper(resources.store, resources.redis, settings).start()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _work(context, rq_redis, list(queues), burst, name)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reaper.stop()
        rq_redis.close()
        resources.close()


def _work(context: WorkerContext, rq_redis: Any, queues: list[str], burst: bool,
          name: str) -> int:
    backoff = 1.0
    attempt = 0
    while True:
        started = time.monotonic()
        try:
            worker = ApartWorker(queues, context=context, connection=rq_redis,
                                 name=name if attempt == 0 else f"{name}.{attempt}")
            worker.work(burst=burst, logging_level=None)
            if worker.drained or context.slot.releasing:
                return 0
            reason = "its work loop stopped on an error"
        except StopRequested:
            return 0
        except (RedisError, ValueError) as exc:  # Redis away; or our old name not yet expired
            reason = f"{type(exc).__name__}: {exc}"
        if context.slot.releasing:
            return 0
        attempt += 1
        if time.monotonic() - started > _HEALTHY_S:
            backoff = 1.0
        log.warning("worker %s: %s; starting again in %.0f s", name, reason, backoff)
        try:
            time.sleep(backoff)
        except StopRequested:
            return 0
        backoff = min(backoff * 2, MAX_REDIS_BACKOFF_S)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apart.worker.runner",
                                     description="Execute apart runs from the RQ queues.")
    parser.add_argument("queues", nargs="*", default=list(LISTEN_ORDER),
                        help="queues to listen to, in order (default: all three)")
    parser.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    parser.add_argument("--name", help="worker name (default: host.pid)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run_worker(Settings.load(), args.queues, burst=args.burst, name=args.name)
    except ConfigError as exc:
        log.error("%s", exc.message)
        return 1


if __name__ == "__main__":
    sys.exit(main())

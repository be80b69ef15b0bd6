"""Local mode: the store on this machine and runs executing in this process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apart.config import Settings, process_environment
from apart.errors import ApartError, ConfigError, InvalidTransition
from apart.runs import lifecycle, views
from apart.runs.database import open_engine
from apart.runs.export import export_run
from apart.runs.liveness import this_process_owner
from apart.runs.records import RunRecord
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import ACTIVE, RunStatus

from .backend import JsonObj

if TYPE_CHECKING:  # loaded when a run executes, so read-only commands start fast
    from apart.llm.base import Provider
    from apart.scenario.schema import LLMConfig
    from apart.sim.engine import LiveEvent


@dataclass
class Local:
    """The :class:`~apart.cli.backend.Backend` on the local data directory."""

    settings: Settings
    store: SqlRunStore
    #: concurrency limits per provider, shared by everything this process runs
    pool: Any = None

    @classmethod
    def open(cls, settings: Settings) -> Local:
        engine = open_engine(settings.resolved_database_url())
        return cls(settings=settings, store=SqlRunStore(engine))

    @property
    def where(self) -> str:
        return f"local data in {self.settings.data_dir}"

    @property
    def timeout(self) -> float:
        return self.settings.heartbeat_timeout

    def resolve(self, config: LLMConfig, override: str | None) -> Provider:
        from apart.llm.registry import resolve_provider

        if self.pool is None:
            from apart.llm.limits import ProviderPool

            self.pool = ProviderPool()
        return resolve_provider(
            config, default_latency_ms=self.settings.scripted_latency_ms, override=override,
            pool=self.pool, environ=process_environment(),
        )

    # -- the Backend protocol ----------------------------------------------------------

    def submit(self, sub: lifecycle.Submission) -> JsonObj:
        run = lifecycle.submit_run(
            self.store, sub, lambda cfg: self.resolve(cfg, sub.provider_override)
        )
        return views.started(run, f"run {run.id} created: {run.scenario_name}, "
                                  f"{run.max_steps} steps, seed {run.seed}")

    def replay(self, run_id: str, new_id: str | None) -> JsonObj:
        run = lifecycle.submit_replay(self.store, run_id, new_id)
        return views.started(run, f"run {run.id} replays run {run_id}'s recorded calls "
                                  f"({run.max_steps} steps, no provider is called)")

    def detail(self, run_id: str) -> JsonObj:
        run = lifecycle.get_run(self.store, run_id, heartbeat_timeout=self.timeout)
        return views.run_detail(run, self.store.latest_checkpoint(run_id))

    def runs(self, status: str | None, limit: int, cursor: str | None) -> JsonObj:
        found, next_cursor = self.store.list_runs(status=status, limit=limit, cursor=cursor)
        found = [lifecycle.reap_if_dead(self.store, r, self.timeout) for r in found]
        return views.run_list(found, next_cursor)

    def pause(self, run_id: str, force: bool, at_step: int | None) -> JsonObj:
        run = lifecycle.request_pause(self.store, run_id, force=force, at_step=at_step,
                                      heartbeat_timeout=self.timeout)
        return views.pause_requested(run, views.pause_message(run, force, at_step))

    def resume(self, run_id: str, budget_usd: float | None = None,
               budget_tokens: int | None = None) -> JsonObj:
        """Resume in this process: a pending run left by a dead process counts too."""
        run = lifecycle.get_run(self.store, run_id, heartbeat_timeout=self.timeout)
        if run.status != RunStatus.PENDING or budget_usd is not None or budget_tokens is not None:
            run = lifecycle.request_resume(self.store, run_id, heartbeat_timeout=self.timeout,
                                           budget_usd=budget_usd, budget_tokens=budget_tokens)
        if run.status == RunStatus.RUNNING:
            return views.resumed(run, f"run {run_id} was still running; its pause is cancelled")
        start = "the start" if run.current_step is None else f"step {run.current_step}"
        return views.resumed(run, f"resuming run {run_id} from {start}")

    def stop(self, run_id: str) -> JsonObj:
        run = lifecycle.request_stop(self.store, run_id, heartbeat_timeout=self.timeout)
        stopped = run.status == RunStatus.STOPPED
        return views.stop_requested(run, f"run {run_id} is stopped" if stopped
                                    else f"run {run_id} will stop now")

    def delete(self, run_id: str) -> JsonObj:
        lifecycle.delete_run(self.store, run_id, heartbeat_timeout=self.timeout)
        return views.deleted(run_id, f"deleted run {run_id}")

    def events(self, run_id: str, after: int, follow: bool) -> Iterator[JsonObj]:
        last = after
        while True:
            run = lifecycle.get_run(self.store, run_id, heartbeat_timeout=self.timeout)
            batch = self.store.events(run_id, after_id=last)
            for record in batch:
                last = record.id
                yield record.envelope()
            if not batch and (not follow or run.status not in (*ACTIVE, RunStatus.PENDING)):
                return
            if not batch:
                time.sleep(0.2)

    def export(self, run_id: str, out: Path) -> Path:
        return export_run(self.store, run_id, out)

    def follow(self, run_id: str, action: str, progress: Any) -> JsonObj:
        self.execute(run_id, progress.on_event, progress.notice, action)
        return self.detail(run_id)

    def detach(self, run_id: str) -> str:
        log = self.execute_detached(run_id)
        return f"run {run_id} continues in the background (log: {log})"

    # -- executing here ------------------------------------------------------------------

    def execute(self, run_id: str, on_event: Callable[[LiveEvent], None],
                on_notice: Callable[[str], None], action: str = "resume") -> RunRecord:
        """Play the run here until it pauses, completes, fails or stops.

        Ctrl+C asks for a graceful pause, a second Ctrl+C (or SIGTERM) forces it.
        """
        try:
            return asyncio.run(self._execute(run_id, on_event, on_notice))
        except InvalidTransition as exc:  # another process claimed it first
            raise InvalidTransition(run_id, exc.status, action,
                                    "another process is running it") from exc

    async def _execute(self, run_id: str, on_event: Callable[[LiveEvent], None],
                       on_notice: Callable[[str], None]) -> RunRecord:
        from apart.llm.pricing import Pricing
        from apart.runs.executor import ExecutorOptions, RunExecutor

        options = ExecutorOptions(heartbeat_interval=self.settings.heartbeat_interval,
                                  poll_interval=self.settings.control_poll_interval)
        executor = RunExecutor(self.store, run_id, self.resolve, options=options,
                               on_event=on_event, pricing=Pricing.load(self.settings.prices_file))
        presses = 0

        def interrupt(force: bool) -> None:
            nonlocal presses
            presses += 1
            force = force or presses > 1
            try:
                lifecycle.request_pause(self.store, run_id, force=force,
                                        heartbeat_timeout=self.timeout)
            except ApartError:
                return
            executor.wake()
            on_notice("force pausing: cancelling the calls in flight" if force else
                      "pausing at the end of this step (Ctrl+C again to pause now)")

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, interrupt, False)
        loop.add_signal_handler(signal.SIGTERM, interrupt, True)
        try:
            return await executor.execute(this_process_owner())
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)

    def execute_detached(self, run_id: str) -> Path:
        """Play the run in a background process; its output goes to a log file."""
        logs = self.settings.data_dir / "logs"
        try:
            logs.mkdir(parents=True, exist_ok=True)
            log_path = logs / f"{run_id}.log"
            log = log_path.open("ab")
        except OSError as exc:
            raise ConfigError(f"cannot write logs in {logs}: {exc.strerror}") from exc
        with log:
            subprocess.Popen(
                [sys.executable, "-m", "apart.cli.app", "resume", run_id],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, "APART_DATA_DIR":
                                             str(self.settings.data_dir.resolve())},
            )
        return log_path

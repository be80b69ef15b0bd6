"""Local mode: the store on this machine and runs executing in this process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from apart.config import Settings
from apart.errors import ApartError, ConfigError, InvalidTransition
from apart.runs import lifecycle
from apart.runs.database import open_engine
from apart.runs.liveness import this_process_owner
from apart.runs.records import RunRecord
from apart.runs.sqlstore import SqlRunStore
from apart.runs.status import RunStatus

if TYPE_CHECKING:  # loaded when a run executes, so read-only commands start fast
    from apart.llm.base import Provider
    from apart.scenario.schema import LLMConfig
    from apart.sim.engine import LiveEvent


@dataclass
class Local:
    settings: Settings
    store: SqlRunStore

    @classmethod
    def open(cls, settings: Settings) -> Local:
        engine = open_engine(settings.resolved_database_url())
        return cls(settings=settings, store=SqlRunStore(engine))

    @property
    def timeout(self) -> float:
        return self.settings.heartbeat_timeout

    def resolve(self, config: LLMConfig, override: str | None) -> Provider:
        from apart.llm.registry import resolve_provider

        return resolve_provider(
            config, default_latency_ms=self.settings.scripted_latency_ms, override=override
        )

    def submit(self, sub: lifecycle.Submission) -> RunRecord:
        return lifecycle.submit_run(
            self.store, sub, lambda cfg: self.resolve(cfg, sub.provider_override)
        )

    def prepare_resume(self, run_id: str) -> RunRecord:
        """Resume in this process: a pending run left by a dead process counts too."""
        run = lifecycle.get_run(self.store, run_id, heartbeat_timeout=self.timeout)
        if run.status == RunStatus.PENDING:
            return run
        return lifecycle.request_resume(self.store, run_id, heartbeat_timeout=self.timeout)

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
        from apart.runs.executor import ExecutorOptions, RunExecutor

        options = ExecutorOptions(heartbeat_interval=self.settings.heartbeat_interval,
                                  poll_interval=self.settings.control_poll_interval)
        executor = RunExecutor(self.store, run_id, self.resolve, options=options,
                               on_event=on_event)
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


"""Helpers for the worker tests: worker subprocesses, a private Redis server, waiting."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from apart.runs.records import RunStore

PYTHON = sys.executable
RQ = str(Path(PYTHON).with_name("rq"))
T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """``check()`` once it is truthy; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def step_counts(store: RunStore, run_id: str) -> Counter[int | None]:
    """How many step_completed events each step has."""
    return Counter(e.step for e in store.events(run_id, limit=100_000)
                   if e.event_type == "step_completed")


def event_types(store: RunStore, run_id: str) -> list[str]:
    return [e.event_type for e in store.events(run_id, limit=100_000)]


def owner_pid(owner: str | None) -> int | None:
    """The pid in an owner string ``host:pid:start``."""
    if not owner:
        return None
    pid = owner.split(":")[1]
    return int(pid) if pid.isdigit() else None


class Processes:
    """Subprocesses of one test, each logging to a file; all killed at the end."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.env = env
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, *argv: str, label: str, **env: str) -> subprocess.Popen[bytes]:
        log_path = self.directory / f"{label}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                list(argv), cwd=self.directory, env={**self.env, **env},
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        self.started.append((proc, log_path))
        return proc

    def worker(self, *args: str, label: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        return self.start(PYTHON, "-m", "apart.worker.runner", *args, label=label, **env)

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}"
                         for _, path in self.started)

    def stop_all(self) -> None:
        for proc, _ in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def worker_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APART_")}
    env.update({
        "APART_DATABASE_URL": database_url,
        "APART_REDIS_URL": redis_url,
        "APART_HEARTBEAT_TIMEOUT": "2",
        "APART_HEARTBEAT_INTERVAL": "0.5",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(overrides)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway redis-server that keeps nothing on disk (a restart loses everything)."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self._accepts, 10, f"redis-server on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False


@contextmanager
def redis_server(port: int, directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(port, directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def job_results(redis: Any) -> list[str]:
    """The return values of the finished jobs of every queue."""
    from rq import Queue

    from apart.worker.queue import LISTEN_ORDER

    results: list[str] = []
    for name in LISTEN_ORDER:
        queue = Queue(name, connection=redis)
        for job_id in queue.finished_job_registry.get_job_ids():
            job = queue.fetch_job(job_id)
            if job is not None:
                results.append(str(job.return_value()))
    return results

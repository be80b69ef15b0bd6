"""Shared pieces of the server-mode benchmarks: Redis, a scratch database, and real
``apart server`` / ``apart worker`` subprocesses.

Everything stays on 127.0.0.1: Redis database 11 (flushed when a cluster starts),
a PostgreSQL database created for the benchmark and dropped after it (or a SQLite
file in a temporary directory), and processes started here and stopped here, by
their pid. Every wait is bounded.

The benchmarks use only the standard library, httpx and apart; creating and dropping
the scratch PostgreSQL database goes through SQLAlchemy, which is apart's own way
to its database.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from apart.runs.database import open_engine, sqlite_url
from apart.runs.sqlstore import SqlRunStore
from apart.worker.resources import connect_redis

REDIS_URL = "redis://127.0.0.1:6379/11"
#: an administrative connection to the PostgreSQL server (trust auth), to CREATE/DROP
PG_ADMIN_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
APART = (sys.executable, "-m", "apart.cli.app")
UP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


# -- Redis and the database ------------------------------------------------------------


def flush_redis() -> None:
    """Empty Redis database 11 (only the benchmarks use it)."""
    client = connect_redis(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


def redis_client() -> Any:
    return connect_redis(REDIS_URL)


@dataclass(frozen=True)
class Database:
    """Where the runs are stored: ``url`` for APART_DATABASE_URL, ``label`` for the tables."""

    kind: str  # "postgresql" or "sqlite"
    url: str
    label: str


def _admin_engine() -> Any:
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT",
                         connect_args={"connect_timeout": 3})


def postgres_reachable() -> str | None:
    """The PostgreSQL server's version, or None when it cannot be reached."""
    from sqlalchemy.exc import OperationalError

    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            version = str(conn.exec_driver_sql("SHOW server_version").scalar_one())
            return version.split()[0]
    except OperationalError:
        return None
    finally:
        engine.dispose()


@contextmanager
def scratch_database(kind: str, data_dir: Path) -> Iterator[Database]:
    """A fresh, empty store: a new PostgreSQL database (dropped afterwards) or a SQLite
    file in ``data_dir``. ``kind`` "postgresql" falls back to SQLite, with a notice,
    when PostgreSQL is unreachable."""
    version = postgres_reachable() if kind == "postgresql" else None
    if kind == "postgresql" and version is None:
        print("NOTE: PostgreSQL at 127.0.0.1:5432 is unreachable: using SQLite instead")
    if version is None:
        yield Database("sqlite", sqlite_url(data_dir), f"SQLite {_sqlite_version()} (WAL)")
        return
    from sqlalchemy import make_url

    name = f"apart_bench_{secrets.token_hex(4)}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        yield Database("postgresql", url, f"PostgreSQL {version} (database {name})")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


@contextmanager
def open_store(url: str, publish: bool = False) -> Iterator[SqlRunStore]:
    """A store on ``url`` (migrated); ``publish``: events go live on Redis db 11 too."""
    from apart.bus import EventPublisher

    engine = open_engine(url)
    redis = connect_redis(REDIS_URL) if publish else None
    try:
        yield SqlRunStore(engine, on_events=EventPublisher(redis) if redis else None)
    finally:
        engine.dispose()
        if redis is not None:
            redis.close()


# -- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (from /proc), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


class MachineCpu:
    """How busy the whole machine was (every process, ours and others') since created.

    Other sessions share this machine: a busy share far above what the benchmark's
    own processes use means the figures were taken under outside load."""

    def __init__(self) -> None:
        self.start = _cpu_jiffies()

    def busy(self) -> str:
        busy, total = _cpu_jiffies()
        share = (busy - self.start[0]) / max(1, total - self.start[1])
        cores = len(os.sched_getaffinity(0))
        return f"{share * 100:.0f}% of {cores} cores"


class Cluster:
    """An ``apart server`` and any number of ``apart worker`` processes on one store.

    Logs go to files in ``root``; ``close`` stops every process it started (SIGTERM to
    its pid, SIGKILL after a bound)."""

    def __init__(self, root: Path, database: Database, **env: str) -> None:
        self.root = root
        self.database = database
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("APART_")}
        self.env.update(APART_DATA_DIR=str(root / "data"), APART_REDIS_URL=REDIS_URL,
                        APART_PORT=str(self.port), APART_SCENARIOS_DIR=str(root),
                        NO_COLOR="1")
        if database.kind == "postgresql":
            self.env["APART_DATABASE_URL"] = database.url
        else:  # the SQLite file of this data directory
            self.env["APART_DATA_DIR"] = str(Path(database.url.split("///", 1)[1]).parent)
        self.env.update(env)
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    # -- starting --------------------------------------------------------------------

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen([*APART, *args], cwd=self.root, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def start_server(self) -> None:
        flush_redis()
        self.server = self._spawn("server", "server")
        deadline = time.monotonic() + UP_TIMEOUT_S
        while time.monotonic() < deadline:
            self._check_alive(self.server, "server")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"the server did not come up in {UP_TIMEOUT_S:.0f} s; "
                         f"see {self.root / 'server.log'}")

    def start_workers(self, n: int) -> list[subprocess.Popen[bytes]]:
        """Start ``n`` more workers and wait until all of them wait for jobs."""
        new = [self._spawn(f"worker-{len(self.workers) + i}", "worker",
                           "--name", f"bench-{len(self.workers) + i}-{secrets.token_hex(2)}")
               for i in range(n)]
        self.workers += new
        self.wait_workers(len(self.workers))
        return new

    def wait_workers(self, n: int) -> None:
        """Until RQ lists ``n`` idle workers (registered and blocked on the queues)."""
        redis = redis_client()
        try:
            deadline = time.monotonic() + UP_TIMEOUT_S
            while time.monotonic() < deadline:
                for i, proc in enumerate(self.workers):
                    self._check_alive(proc, f"worker-{i}")
                keys = list(redis.smembers("rq:workers"))
                states = [redis.hget(key, "state") for key in keys]
                if sum(state == b"idle" for state in states) >= n:
                    return
                time.sleep(0.05)
        finally:
            redis.close()
        raise SystemExit(f"{n} workers did not become idle in {UP_TIMEOUT_S:.0f} s; "
                         f"see the worker logs in {self.root}")

    def _check_alive(self, proc: subprocess.Popen[bytes], name: str) -> None:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode}; "
                             f"see {self.root / (name + '.log')}")

    # -- stopping --------------------------------------------------------------------

    def stop_workers(self) -> None:
        _stop(self.workers)
        self.workers = []

    def close(self) -> None:
        _stop([*self.workers, *([self.server] if self.server else [])])
        self.workers, self.server = [], None
        for log in self._logs:
            log.close()

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each (by its pid), then wait; SIGKILL what is still there after a bound."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)


@contextmanager
def cluster(root: Path, database: Database, **env: str) -> Iterator[Cluster]:
    c = Cluster(root, database, **env)
    try:
        c.start_server()
        yield c
    finally:
        c.close()


def wait_status(client: httpx.Client, run_id: str, wanted: set[str], timeout: float,
                poll_s: float = 0.01) -> tuple[dict[str, Any], float]:
    """Poll ``GET /api/v1/runs/{id}`` until its status is one of ``wanted``; the run
    and the ``perf_counter`` of the first answer that showed it."""
    deadline = time.perf_counter() + timeout
    detail: dict[str, Any] = {}
    while time.perf_counter() < deadline:
        response = client.get(f"/api/v1/runs/{run_id}")
        seen = time.perf_counter()
        response.raise_for_status()
        detail = response.json()
        if detail["status"] in wanted:
            return detail, seen
        time.sleep(poll_s)
    raise SystemExit(f"run {run_id} did not become {'/'.join(sorted(wanted))} within "
                     f"{timeout:.0f} s (last status {detail.get('status')})")

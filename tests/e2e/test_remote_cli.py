"""The CLI against a real server: `apart server` and `apart worker` processes on one
SQLite file and the real Redis; every command through APART_API_URL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.helpers import scenario_text

pytestmark = pytest.mark.slow

APART = [sys.executable, "-m", "apart.cli.app"]
REDIS_URL = "redis://127.0.0.1:6379/12"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("APART_")}
        self.env.update(
            APART_DATA_DIR=str(root / "server-data"), APART_REDIS_URL=REDIS_URL,
            APART_PORT=str(self.port), APART_HEARTBEAT_INTERVAL="0.5", NO_COLOR="1",
            COLUMNS="200",
        )
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{args[0]}-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen([*APART, *args], cwd=self.root, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server did not come up")

    def cli(
        self, *args: str, local: bool = False, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, **extra)
        if local:
            env["APART_DATA_DIR"] = str(self.root / "local-data")
        else:
            env["APART_API_URL"] = self.url
        return subprocess.run([*APART, *args], cwd=self.root, env=env, capture_output=True,
                              text=True, timeout=90)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    (tmp_path / "s.yaml").write_text(scenario_text(steps=4))
    (tmp_path / "slow.yaml").write_text(scenario_text(steps=4, latency_ms=700))
    c = Cluster(tmp_path)
    c.start("server")
    c.wait_until_up()
    c.start("worker")
    try:
        yield c
    finally:
        c.stop()


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _wait_status(c: Cluster, run_id: str, wanted: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = httpx.get(f"{c.url}/api/v1/runs/{run_id}", timeout=5).json()
        if detail["status"] in wanted:
            return detail
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached {wanted}")


def _snapshots(c: Cluster, run_id: str, local: bool = False) -> list[dict[str, Any]]:
    out = c.root / ("out-local" if local else "out")
    result = c.cli("export", run_id, "-o", str(out), local=local)
    assert result.returncode == 0, result.stderr
    return json.loads((out / run_id / "state.json").read_text())["snapshots"]


def test_a_run_through_the_server_matches_the_same_run_played_locally(cluster: Cluster) -> None:
    local = cluster.cli("run", "s.yaml", "-n", "same", local=True)
    assert local.returncode == 0, local.stderr
    started = cluster.cli("run", "s.yaml", "-n", "same")
    assert started.returncode == 0, started.stderr
    assert "completed run same" in started.stdout
    assert _json(cluster.cli("show", "same", "--json"))["status"] == "completed"
    assert "same" in [r["runId"] for r in _json(cluster.cli("list", "--json"))["runs"]]
    assert _snapshots(cluster, "same") == _snapshots(cluster, "same", local=True)
    replayed = cluster.cli("replay", "same", "-n", "same-again")
    assert replayed.returncode == 0, replayed.stderr
    assert _snapshots(cluster, "same-again") == _snapshots(cluster, "same", local=True)
    events = (cluster.root / "out" / "same" / "events.jsonl").read_text().splitlines()
    assert [json.loads(e)["id"] for e in events] == list(range(1, len(events) + 1))


def test_pause_and_resume_from_the_cli_against_the_server(cluster: Cluster) -> None:
    reference = cluster.cli("run", "s.yaml", "-n", "ref", local=True)
    assert reference.returncode == 0, reference.stderr
    assert cluster.cli("run", "slow.yaml", "-n", "p", "--detach").returncode == 0
    _wait_status(cluster, "p", {"running"})
    paused = cluster.cli("pause", "p", "--force")
    assert paused.returncode == 0, paused.stderr
    detail = _wait_status(cluster, "p", {"paused"}, timeout=5)
    assert detail["pauseReason"] == "user_force"
    again = cluster.cli("pause", "p")
    assert again.returncode == 1 and "paused" in again.stderr
    resumed = cluster.cli("resume", "p", "--detach")
    assert resumed.returncode == 0, resumed.stderr
    _wait_status(cluster, "p", {"completed"})
    watched = cluster.cli("watch", "p", "--json")
    steps = [json.loads(line)["step"] for line in watched.stdout.splitlines()
             if json.loads(line)["event_type"] == "step_completed"]
    assert steps == [0, 1, 2, 3, 4]
    assert _snapshots(cluster, "p") == _snapshots(cluster, "ref", local=True)


def test_server_errors_reach_the_user_with_their_detail(cluster: Cluster) -> None:
    missing = cluster.cli("show", "nope")
    assert missing.returncode == 1 and "nope" in missing.stderr
    bad = cluster.root / "bad.yaml"
    bad.write_text(scenario_text().replace("max_steps: 4", "max_steps: 0"))
    refused = cluster.cli("run", str(bad))
    assert refused.returncode == 1 and "max_steps" in refused.stderr


def test_an_unreachable_server_is_named_with_the_way_to_start_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APART_")}
    env["APART_API_URL"] = f"http://127.0.0.1:{_free_port()}"
    result = subprocess.run([*APART, "list"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1
    assert env["APART_API_URL"] in result.stderr and "apart server" in result.stderr

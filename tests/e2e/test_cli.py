"""The `apart` command as a user runs it: real processes, a real SQLite data dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import scenario_text

pytestmark = pytest.mark.slow

SHARED = Path(__file__).resolve().parents[3] / "shared" / "scenarios"
APART = [sys.executable, "-m", "apart.cli.app"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "s.yaml").write_text(scenario_text(steps=4))
    (tmp_path / "slow.yaml").write_text(scenario_text(steps=4, latency_ms=600))
    return tmp_path


def _env(workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APART_")}
    env.update(APART_DATA_DIR=str(workdir / ".apart"), NO_COLOR="1", COLUMNS="200",
               APART_HEARTBEAT_INTERVAL="0.5")
    env.update(extra)
    return env


def apart(workdir: Path, *args: str, timeout: float = 60, **extra: str
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*APART, *args], cwd=workdir, env=_env(workdir, **extra),
                          capture_output=True, text=True, timeout=timeout)


def spawn(workdir: Path, *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*APART, *args], cwd=workdir, env=_env(workdir, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def show(workdir: Path, run_id: str) -> dict[str, Any]:
    result = apart(workdir, "show", run_id, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_for_step(workdir: Path, run_id: str, step: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = apart(workdir, "show", run_id, "--json")
        if result.returncode == 0 and (json.loads(result.stdout)["currentStep"] or -1) >= step:
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not reach step {step}")


def exported(workdir: Path, run_id: str) -> list[dict[str, Any]]:
    result = apart(workdir, "export", run_id, "-o", str(workdir / "out"))
    assert result.returncode == 0, result.stderr
    state = json.loads((workdir / "out" / run_id / "state.json").read_text())
    return state["snapshots"]


def test_run_then_list_show_and_export(workdir: Path) -> None:
    result = apart(workdir, "run", "s.yaml", "-n", "first")
    assert result.returncode == 0, result.stderr
    assert "completed" in result.stdout
    listing = json.loads(apart(workdir, "list", "--json").stdout)
    assert [r["runId"] for r in listing["runs"]] == ["first"]
    assert listing["runs"][0]["status"] == "completed"
    detail = show(workdir, "first")
    assert detail["currentStep"] == 4 and detail["agentNames"][0] == "Aster"
    snapshots = exported(workdir, "first")
    assert [s["step"] for s in snapshots] == [0, 1, 2, 3, 4]
    out = workdir / "out" / "first"
    assert (out / "events.jsonl").read_text().count("step_completed") == 5
    header = (out / "variables.csv").read_text().splitlines()[0]
    assert header.startswith("step,global.tension")


def test_validate_names_the_yaml_path_of_a_problem(workdir: Path) -> None:
    bad = workdir / "bad.yaml"
    bad.write_text(scenario_text().replace("capability: 40}", "capability: 140}"))
    result = apart(workdir, "validate", str(bad))
    assert result.returncode == 1
    assert "agents[0].variables.capability" in result.stderr
    assert "Traceback" not in result.stderr
    assert apart(workdir, "validate", "s.yaml").returncode == 0


def test_unknown_runs_and_wrong_states_give_clear_errors(workdir: Path) -> None:
    missing = apart(workdir, "show", "nope")
    assert missing.returncode == 1 and "no run with id 'nope'" in missing.stderr
    apart(workdir, "run", "s.yaml", "-n", "done")
    for command in ("pause", "resume"):
        result = apart(workdir, command, "done")
        assert result.returncode == 1
        assert "completed" in result.stderr
    taken = apart(workdir, "run", "s.yaml", "-n", "done")
    assert taken.returncode == 1 and "already exists" in taken.stderr
    usage = apart(workdir, "run")
    assert usage.returncode == 2


def test_ctrl_c_pauses_gracefully_and_resume_matches_a_straight_run(workdir: Path) -> None:
    apart(workdir, "run", "s.yaml", "-n", "ref")
    proc = spawn(workdir, "run", "slow.yaml", "-n", "p")
    wait_for_step(workdir, "p", 1)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert show(workdir, "p")["status"] == "paused"
    resumed = apart(workdir, "resume", "p")
    assert resumed.returncode == 0, resumed.stderr
    assert exported(workdir, "p") == exported(workdir, "ref")


def test_a_killed_run_is_detected_and_resume_continues_it_exactly(workdir: Path) -> None:
    apart(workdir, "run", "s.yaml", "-n", "ref")
    proc = spawn(workdir, "run", "slow.yaml", "-n", "k")
    wait_for_step(workdir, "k", 1)
    time.sleep(0.2)  # mid-step
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert show(workdir, "k")["status"] == "interrupted"
    resumed = apart(workdir, "resume", "k")
    assert resumed.returncode == 0, resumed.stderr
    assert exported(workdir, "k") == exported(workdir, "ref")


def test_two_resumes_of_one_run_never_execute_it_twice(workdir: Path) -> None:
    apart(workdir, "run", "slow.yaml", "-n", "r", "--pause-at-step", "1")
    procs = [spawn(workdir, "resume", "r") for _ in range(2)]
    results = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    refused = next(err for code, err in results if code == 1)
    assert "cannot resume run 'r'" in refused
    watched = apart(workdir, "watch", "r", "--json").stdout.splitlines()
    events = [json.loads(line) for line in watched]
    steps = [e["step"] for e in events if e["event_type"] == "step_completed"]
    assert steps == [0, 1, 2, 3, 4]


def test_pause_from_another_terminal(workdir: Path) -> None:
    proc = spawn(workdir, "run", "slow.yaml", "-n", "x")
    wait_for_step(workdir, "x", 0)
    result = apart(workdir, "pause", "x", "--force")
    assert result.returncode == 0, result.stderr
    assert proc.wait(timeout=30) == 0
    detail = show(workdir, "x")
    assert detail["status"] == "paused" and detail["pauseReason"] == "user_force"
    again = apart(workdir, "pause", "x")
    assert again.returncode == 1 and "paused" in again.stderr


def test_a_corrupted_database_is_reported_not_overwritten(workdir: Path) -> None:
    data = workdir / ".apart"
    data.mkdir()
    (data / "apart.db").write_bytes(b"this is not a database" * 100)
    result = apart(workdir, "list")
    assert result.returncode == 1
    assert "apart.db" in result.stderr and "Traceback" not in result.stderr
    assert (data / "apart.db").read_bytes().startswith(b"this is not a database")


def test_an_unusable_data_directory_is_reported(workdir: Path) -> None:
    (workdir / "afile").write_text("x")
    result = apart(workdir, "list", APART_DATA_DIR=str(workdir / "afile" / "data"))
    assert result.returncode == 1
    assert "afile" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(not SHARED.exists(), reason="shared/scenarios is not beside the repo")
def test_a_scenario_naming_a_real_vendor_dry_runs_with_the_scripted_provider(
    workdir: Path,
) -> None:
    config = str(SHARED / "config.yaml")
    refused = apart(workdir, "run", config, "-n", "g")
    assert refused.returncode == 1 and "GEMINI_API_KEY" in refused.stderr
    ok = apart(workdir, "run", config, "-n", "g", "--provider", "scripted")
    assert ok.returncode == 0, ok.stderr
    modules = apart(workdir, "validate", str(SHARED / "taiwan_strait_blockade.yaml"))
    assert modules.returncode == 1 and "modules are not supported yet" in modules.stderr


def test_replay_reproduces_a_run_offline(workdir: Path) -> None:
    assert apart(workdir, "run", "s.yaml", "-n", "orig").returncode == 0
    replayed = apart(workdir, "replay", "orig", "-n", "again")
    assert replayed.returncode == 0, replayed.stderr
    assert "no provider is called" in replayed.stdout
    assert exported(workdir, "again") == exported(workdir, "orig")
    missing = apart(workdir, "replay", "nope")
    assert missing.returncode == 1 and "no run with id 'nope'" in missing.stderr

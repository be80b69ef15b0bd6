"""The REST API of DESIGN §6 against a real uvicorn server, Redis and a real database:
every endpoint's status codes, the one error shape, auth, limits and control."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from apart.bus import CONTROL, scoped
from apart.runs.liveness import this_process_owner
from apart.runs.status import RunStatus
from tests.helpers import execute, run_to_end, scenario_text, trajectory_of
from tests.helpers import submit as submit_in_store
from tests.integration.test_api_support import (
    DEAD_REDIS_URL,
    ApiServer,
    api_server,
    new_id,
    queued_run_ids,
    submit,
)

#: the fixtures api, http and redis_db
pytest_plugins = ["tests.integration.test_api_support"]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape: a sentence and a machine code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def trajectory(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps as ``apart export`` keeps them, to compare with tests.helpers.trajectory_of."""
    keys = ("step", "global_vars", "agent_vars", "messages", "events", "reasoning", "clamps")
    return [{key: step.get(key) for key in keys} for step in steps]


class ControlListener:
    """Records the control messages published for one run."""

    def __init__(self, redis_db: redis.Redis, run_id: str) -> None:
        self.run_id = run_id
        self.pubsub = redis_db.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(scoped(CONTROL, redis_db))

    def actions(self, wait: float = 1.0) -> list[str]:
        found: list[str] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.05)
            if message is None:
                if found:
                    break
                continue
            payload = json.loads(message["data"])
            if payload["run_id"] == self.run_id:
                found.append(payload["action"])
        return found

    def close(self) -> None:
        self.pubsub.close()


# -- submit ---------------------------------------------------------------------------


def test_a_submitted_scenario_becomes_a_pending_run_waiting_in_the_queue(
    http: httpx.Client, redis_db: redis.Redis
) -> None:
    run_id = new_id()
    response = http.post("/api/v1/runs", json={"scenario": scenario_text(steps=3),
                                               "run_id": run_id, "seed": 7})
    assert response.status_code == 201
    started = response.json()
    assert started["run_id"] == run_id and started["status"] == "pending"
    assert run_id in started["message"]
    assert queued_run_ids(redis_db) == [run_id]

    detail = http.get(f"/api/v1/runs/{run_id}").json()
    assert detail["runId"] == run_id and detail["status"] == "pending"
    assert detail["maxSteps"] == 3 and detail["seed"] == 7
    assert detail["agentNames"] == ["Aster", "Boreal", "Cinder", "Board"]
    listing = http.get("/api/v1/runs").json()
    assert [r["runId"] for r in listing["runs"]] == [run_id]
    assert listing["nextCursor"] is None


def test_a_run_from_the_scenarios_directory_takes_its_name_options_and_priority(
    api: ApiServer, http: httpx.Client, redis_db: redis.Redis
) -> None:
    body = {"scenario_path": "team/race.yml", "priority": "high", "max_steps": 2,
            "save_frequency": 2, "pause_at_step": 1, "provider": "scripted",
            "budget": {"tokens": 5000, "usd": 1.5}}
    run_id = http.post("/api/v1/runs", json=body).json()["run_id"]
    assert run_id.startswith("race-")
    assert queued_run_ids(redis_db, "simulations-high") == [run_id]
    detail = http.get(f"/api/v1/runs/{run_id}").json()
    assert (detail["scenario"], detail["priority"], detail["maxSteps"]) == ("race", "high", 2)
    assert (detail["saveFrequency"], detail["pauseAtStep"]) == (2, 1)
    assert detail["providerOverride"] == "scripted"
    assert api.store.get_run(run_id).options == {"budget": {"max_tokens": 5000, "max_usd": 1.5}}


@pytest.mark.parametrize("path", [
    "../secret.yaml", "team/../../secret.yaml", "/etc/passwd", "~/secret.yaml",
    "escape.yaml", "missing.yaml", "notes.txt", "team", "",
])
def test_a_scenario_path_that_is_not_a_file_inside_the_scenarios_directory_is_refused(
    http: httpx.Client, path: str
) -> None:
    body = assert_error(http.post("/api/v1/runs", json={"scenario_path": path}),
                        422, "invalid_scenario_path")
    assert "secret" not in body["detail"].replace(path, "")  # no server paths in the message
    assert http.get("/api/v1/runs").json()["runs"] == []


def test_an_invalid_scenario_is_refused_with_the_yaml_path_of_each_problem(
    http: httpx.Client, redis_db: redis.Redis
) -> None:
    text = scenario_text().replace("variables: {capability: 40}", "variables: {capability: 140}")
    body = assert_error(http.post("/api/v1/runs", json={"scenario": text, "run_id": "bad"}),
                        422, "invalid_scenario")
    assert "agents[0].variables.capability" in body["detail"]
    assert [issue["path"] for issue in body["issues"]] == ["agents[0].variables.capability"]
    assert all(issue["problem"] and issue["fix"] for issue in body["issues"])
    assert_error(http.get("/api/v1/runs/bad"), 404, "run_not_found")
    two = scenario_text().replace("max_steps: 4", "max_steps: 0\nmood: grim")
    issues = assert_error(http.post("/api/v1/runs", json={"scenario": two}), 422,
                          "invalid_scenario")["issues"]
    assert {issue["path"] for issue in issues} == {"max_steps", "mood"}
    assert queued_run_ids(redis_db) == []


def test_an_unsafe_yaml_tag_is_refused_and_never_executed(
    http: httpx.Client, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    text = f'max_steps: !!python/object/apply:os.system ["touch {marker}"]\n'
    body = assert_error(http.post("/api/v1/runs", json={"scenario": text}), 422,
                        "invalid_scenario")
    assert "tag" in body["detail"]
    assert not marker.exists()


def test_a_run_id_that_is_taken_is_a_conflict(http: httpx.Client) -> None:
    run_id = new_id()
    submit(http, run_id)
    body = assert_error(http.post("/api/v1/runs", json={"scenario": scenario_text(),
                                                        "run_id": run_id}),
                        409, "run_id_taken")
    assert run_id in body["detail"]


def test_a_provider_that_is_not_available_is_a_bad_request(http: httpx.Client) -> None:
    text = scenario_text().replace("provider: scripted\n  model: scripted-v1",
                                   "provider: openai\n  model: gpt-4o", 1)
    assert_error(http.post("/api/v1/runs", json={"scenario": text}), 400, "config_error")
    assert http.post("/api/v1/runs", json={"scenario": text, "provider": "scripted"}
                     ).status_code == 201


@pytest.mark.parametrize("body", [
    {},
    {"scenario": "max_steps: 1", "scenario_path": "tiny.yaml"},
    {"scenario_path": "tiny.yaml", "priority": "urgent"},
    {"scenario_path": "tiny.yaml", "run_id": "../x"},
    {"scenario_path": "tiny.yaml", "save_frequency": 0},
    {"scenario_path": "tiny.yaml", "budget": {"usd": -1}},
    {"scenario_path": "tiny.yaml", "colour": "red"},
    [1, 2],
])
def test_an_invalid_body_is_a_validation_error_in_the_one_error_shape(
    http: httpx.Client, body: Any
) -> None:
    error = assert_error(http.post("/api/v1/runs", json=body), 422, "validation_error")
    assert error["errors"] and error["detail"].startswith("invalid request")


def test_a_body_that_is_not_json_is_a_validation_error(http: httpx.Client) -> None:
    response = http.post("/api/v1/runs", content=b"{oops",
                         headers={"Content-Type": "application/json"})
    assert "not valid JSON" in assert_error(response, 422, "validation_error")["detail"]


def test_an_oversized_body_is_refused_with_413_counted_or_declared(http: httpx.Client) -> None:
    big = json.dumps({"scenario": "x" * (1024 * 1024 + 10)}).encode()
    declared = http.post("/api/v1/runs", content=big,
                         headers={"Content-Type": "application/json"})
    assert_error(declared, 413, "payload_too_large")

    def chunks() -> Any:  # no Content-Length: the server must count
        for start in range(0, len(big), 64 * 1024):
            yield big[start:start + 64 * 1024]

    streamed = http.post("/api/v1/runs", content=chunks(),
                         headers={"Content-Type": "application/json"})
    assert_error(streamed, 413, "payload_too_large")
    assert http.get("/api/v1/runs").json()["runs"] == []


# -- read -----------------------------------------------------------------------------


def test_listing_pages_with_a_cursor_and_filters_by_status(
    api: ApiServer, http: httpx.Client
) -> None:
    ids = [new_id(f"r{i}") for i in range(3)]
    for run_id in ids:
        submit(http, run_id)
    http.post(f"/api/v1/runs/{ids[0]}/pause")  # pending -> paused
    first = http.get("/api/v1/runs", params={"limit": 2}).json()
    assert [r["runId"] for r in first["runs"]] == [ids[2], ids[1]]
    second = http.get("/api/v1/runs", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert [r["runId"] for r in second["runs"]] == [ids[0]]
    assert second["nextCursor"] is None
    paused = http.get("/api/v1/runs", params={"status": "paused"}).json()["runs"]
    assert [(r["runId"], r["status"], r["pauseReason"]) for r in paused] == [
        (ids[0], "paused", "user")]
    assert_error(http.get("/api/v1/runs", params={"status": "asleep"}), 422, "validation_error")
    assert_error(http.get("/api/v1/runs", params={"limit": 0}), 422, "validation_error")
    assert_error(http.get("/api/v1/runs", params={"cursor": "garbage"}), 422, "invalid_request")


def test_the_steps_of_a_run_hold_variables_messages_events_and_reasoning(
    api: ApiServer, http: httpx.Client
) -> None:
    run_id = new_id()
    submit(http, run_id)
    execute(api.store, run_id)
    steps = http.get(f"/api/v1/runs/{run_id}/steps").json()
    assert steps["runId"] == run_id
    assert [s["step"] for s in steps["steps"]] == [0, 1, 2, 3]
    assert trajectory(steps["steps"]) == trajectory_of(api.store, run_id)
    one = http.get(f"/api/v1/runs/{run_id}/steps", params={"from": 1, "to": 2}).json()["steps"]
    assert [s["step"] for s in one] == [1, 2]
    assert set(one[0]) >= {"global_vars", "agent_vars", "messages", "events", "reasoning",
                           "clamps"}
    detail = http.get(f"/api/v1/runs/{run_id}").json()
    assert detail["status"] == "completed" and detail["currentStep"] == 3
    assert set(detail["globalVars"]) == set(one[0]["global_vars"])


@pytest.mark.parametrize(("method", "path"), [
    ("GET", ""), ("GET", "/steps"), ("GET", "/events"), ("POST", "/pause"),
    ("POST", "/resume"), ("POST", "/stop"), ("DELETE", ""),
])
def test_an_unknown_run_is_404_on_every_endpoint(http: httpx.Client, method: str,
                                                 path: str) -> None:
    for run_id in ("no-such-run", "not%20an%20id"):
        body = assert_error(http.request(method, f"/api/v1/runs/{run_id}{path}"), 404,
                            "run_not_found")
        assert "no run" in body["detail"]


def test_unknown_paths_and_methods_answer_in_the_one_error_shape(http: httpx.Client) -> None:
    assert_error(http.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(http.put("/api/v1/runs"), 405, "method_not_allowed")


# -- control --------------------------------------------------------------------------


def test_pausing_a_completed_run_is_a_conflict_that_names_its_status(
    api: ApiServer, http: httpx.Client
) -> None:
    run_id = new_id()
    submit(http, run_id)
    execute(api.store, run_id)
    body = assert_error(http.post(f"/api/v1/runs/{run_id}/pause"), 409, "invalid_state")
    assert "completed" in body["detail"] and body["status"] == "completed"
    assert "completed" in assert_error(http.post(f"/api/v1/runs/{run_id}/resume"), 409,
                                       "invalid_state")["detail"]
    assert "ended" in assert_error(http.post(f"/api/v1/runs/{run_id}/stop"), 409,
                                   "invalid_state")["detail"]


def test_resuming_a_running_run_is_a_conflict_that_names_its_status(
    api: ApiServer, http: httpx.Client
) -> None:
    run_id = new_id()
    submit(http, run_id)
    api.store.claim(run_id, this_process_owner())  # as a worker in this process would
    body = assert_error(http.post(f"/api/v1/runs/{run_id}/resume"), 409, "invalid_state")
    assert "running" in body["detail"] and body["status"] == "running"
    body = assert_error(http.delete(f"/api/v1/runs/{run_id}"), 409, "invalid_state")
    assert "running" in body["detail"]


def test_pause_of_a_running_run_is_stored_then_published_and_resume_cancels_it(
    api: ApiServer, http: httpx.Client, redis_db: redis.Redis
) -> None:
    run_id = new_id()
    submit(http, run_id)
    api.store.claim(run_id, this_process_owner())
    control = ControlListener(redis_db, run_id)
    try:
        paused = http.post(f"/api/v1/runs/{run_id}/pause")
        assert paused.status_code == 200
        assert paused.json()["status"] == "pause_requested"
        assert paused.json()["run_status"] == "pausing"
        assert control.actions() == ["pause"]
        forced = http.post(f"/api/v1/runs/{run_id}/pause", params={"force": "true"}).json()
        assert api.store.get_run(run_id).pause_request == "force"
        assert forced["status"] == "pause_requested" and control.actions() == ["force_pause"]

        resumed = http.post(f"/api/v1/runs/{run_id}/resume")
        assert resumed.status_code == 200
        assert resumed.json()["status"] == "resumed"
        assert resumed.json()["run_status"] == "running"
        assert control.actions() == ["resume"]
        assert api.store.get_run(run_id).pause_request is None

        stopping = http.post(f"/api/v1/runs/{run_id}/stop").json()
        assert (stopping["status"], stopping["run_status"]) == ("stop_requested", "running")
        assert control.actions() == ["stop"]
        assert api.store.get_run(run_id).stop_requested
    finally:
        control.close()


def test_a_queued_run_pauses_at_once_and_resuming_queues_it_again(
    api: ApiServer, http: httpx.Client, redis_db: redis.Redis
) -> None:
    run_id = new_id()
    submit(http, run_id)
    paused = http.post(f"/api/v1/runs/{run_id}/pause").json()
    assert (paused["status"], paused["run_status"]) == ("pause_requested", "paused")
    resumed = http.post(f"/api/v1/runs/{run_id}/resume").json()
    assert resumed == {**resumed, "status": "resumed", "run_status": "pending",
                       "resuming_from_step": None}
    assert queued_run_ids(redis_db) == [run_id, run_id]
    at_step = http.post(f"/api/v1/runs/{run_id}/pause", params={"at_step": 2}).json()
    assert at_step["run_status"] == "pending" and "after step 2" in at_step["message"]
    assert api.store.get_run(run_id).pause_at_step == 2
    assert_error(http.post(f"/api/v1/runs/{run_id}/pause", params={"at_step": -1}), 422,
                 "validation_error")


def test_four_concurrent_resumes_give_one_200_and_three_409s(
    api: ApiServer, redis_db: redis.Redis
) -> None:
    run_id = new_id()
    http = api.client()
    submit(http, run_id)
    http.post(f"/api/v1/runs/{run_id}/pause")
    before = queued_run_ids(redis_db).count(run_id)
    barrier = threading.Barrier(4)
    statuses: list[int] = []
    details: list[str] = []

    def resume() -> None:
        with httpx.Client(base_url=api.url, timeout=10) as client:
            barrier.wait()
            response = client.post(f"/api/v1/runs/{run_id}/resume")
        statuses.append(response.status_code)
        if response.status_code == 409:
            details.append(response.json()["detail"])

    threads = [threading.Thread(target=resume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert sorted(statuses) == [200, 409, 409, 409]
    assert all("pending" in detail for detail in details)
    assert queued_run_ids(redis_db).count(run_id) == before + 1


def test_stop_ends_a_waiting_run_and_delete_removes_it(
    api: ApiServer, http: httpx.Client
) -> None:
    run_id = new_id()
    submit(http, run_id)
    stopped = http.post(f"/api/v1/runs/{run_id}/stop")
    assert stopped.status_code == 200
    assert (stopped.json()["status"], stopped.json()["run_status"]) == ("stopped", "stopped")
    deleted = http.delete(f"/api/v1/runs/{run_id}")
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert_error(http.get(f"/api/v1/runs/{run_id}"), 404, "run_not_found")
    assert_error(http.delete(f"/api/v1/runs/{run_id}"), 404, "run_not_found")


# -- the whole flow -------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_start_pause_resume_complete_on_postgresql_matches_an_uninterrupted_run(
    tmp_path: Path, redis_db: redis.Redis, store_url: str
) -> None:
    """The main flow, with this test playing the worker: the API pauses a run that
    executes, resumes it, and the trajectory is the uninterrupted one."""
    text = scenario_text(steps=5, latency_ms=20)
    with api_server(tmp_path, database_url=store_url) as api:
        http = api.client()
        run_id = new_id("flow")
        submit(http, run_id, scenario=text)
        worker = threading.Thread(target=execute, args=(api.store, run_id))
        worker.start()
        deadline = time.monotonic() + 10
        while (api.store.get_run(run_id).current_step or 0) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert http.post(f"/api/v1/runs/{run_id}/pause").json()["status"] == "pause_requested"
        worker.join(10)
        paused = http.get(f"/api/v1/runs/{run_id}").json()
        assert (paused["status"], paused["pauseReason"]) == ("paused", "user")
        assert paused["currentStep"] < 5

        resumed = http.post(f"/api/v1/runs/{run_id}/resume").json()
        assert resumed["resuming_from_step"] == paused["currentStep"]
        assert run_id in queued_run_ids(redis_db)
        assert execute(api.store, run_id).status == RunStatus.COMPLETED

        assert http.get(f"/api/v1/runs/{run_id}").json()["status"] == "completed"
        run_to_end(api.store, text, "reference")
        steps = http.get(f"/api/v1/runs/{run_id}/steps").json()["steps"]
        assert trajectory(steps) == trajectory_of(api.store, "reference")


# -- auth and health ------------------------------------------------------------------


def test_with_a_token_every_v1_call_needs_it_and_health_stays_open(
    tmp_path: Path, redis_db: redis.Redis
) -> None:
    with api_server(tmp_path, token="s3cret-token") as api:
        anonymous = api.client()
        for method, path in (("GET", "/api/v1/runs"), ("GET", "/api/v1/runs/x"),
                             ("POST", "/api/v1/runs"), ("GET", "/api/v1/events")):
            response = anonymous.request(method, path)
            assert_error(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert_error(api.client(token="wrong").get("/api/v1/runs"), 401, "unauthorized")
        basic = anonymous.get("/api/v1/runs", headers={"Authorization": "Basic czNjcmV0"})
        assert_error(basic, 401, "unauthorized")
        assert api.client(token="s3cret-token").get("/api/v1/runs").status_code == 200
        assert anonymous.get("/api/health").json() == {"status": "ok"}
        assert anonymous.get("/api/health/detailed").status_code == 200
        schema = anonymous.get("/openapi.json").json()
        assert "HTTPBearer" in schema["components"]["securitySchemes"]
        assert schema["paths"]["/api/v1/runs"]["get"]["security"] == [{"HTTPBearer": []}]


def test_detailed_health_reports_database_redis_workers_and_queues(
    http: httpx.Client
) -> None:
    submit(http, new_id())
    health = http.get("/api/health/detailed").json()
    assert health["status"] == "ok"
    assert health["database"] == {**health["database"], "status": "ok", "runs": 1}
    assert health["redis"]["status"] == "ok"
    assert health["workers"] == {**health["workers"], "status": "ok", "count": 0}
    assert health["queues"]["depths"] == {"simulations-high": 0, "simulations": 1,
                                          "simulations-low": 0}


def test_without_redis_health_degrades_and_a_submission_is_refused_whole(
    tmp_path: Path, redis_db: redis.Redis
) -> None:
    with api_server(tmp_path, redis_url=DEAD_REDIS_URL) as api:
        http = api.client()
        assert http.get("/api/health").status_code == 200
        health = http.get("/api/health/detailed").json()
        assert health["status"] == "degraded" and health["database"]["status"] == "ok"
        for part in ("redis", "workers", "queues"):
            assert health[part]["status"] == "unavailable" and health[part]["detail"]
        body = assert_error(http.post("/api/v1/runs", json={"scenario": scenario_text(),
                                                            "run_id": "r1"}),
                            503, "queue_unavailable")
        assert "nothing was created" in body["detail"]
        assert_error(http.get("/api/v1/runs/r1"), 404, "run_not_found")

        submit_in_store(api.store, scenario_text(), "r2")  # control still works
        assert http.post("/api/v1/runs/r2/pause").json()["run_status"] == "paused"
        resumed = http.post("/api/v1/runs/r2/resume").json()
        assert resumed["run_status"] == "pending" and "unreachable" in resumed["message"]


def test_the_openapi_schema_and_docs_are_served(http: httpx.Client) -> None:
    schema = http.get("/openapi.json").json()
    assert {"/api/v1/runs", "/api/v1/runs/{run_id}", "/api/v1/runs/{run_id}/pause",
            "/api/v1/runs/{run_id}/resume", "/api/v1/runs/{run_id}/stop",
            "/api/v1/runs/{run_id}/steps", "/api/v1/runs/{run_id}/events",
            "/api/v1/events", "/api/health", "/api/health/detailed"} <= set(schema["paths"])
    assert {"RunCreate", "RunList", "RunDetail", "ErrorBody"} <= set(
        schema["components"]["schemas"])
    assert "securitySchemes" not in schema["components"]  # no token: no auth asked
    assert http.get("/docs").status_code == 200

"""``apart-server``: the resources it builds serve the API, and an unusable database
is one clear sentence, not a traceback."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis

from apart.api.serve import build_app, main
from apart.bus import ALL_EVENTS, scoped
from apart.config import Settings
from tests.helpers import scenario_text
from tests.integration.test_api_support import REDIS_URL, new_id, serving

pytest_plugins = ["tests.integration.test_api_support"]


def test_apart_server_names_an_unusable_database_instead_of_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "apart.db").write_bytes(b"this is not a database" * 100)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APART_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("APART_DATABASE_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["--port", "0"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("apart-server: error: ") and "not a SQLite database" in err
    assert "Traceback" not in err


def test_the_built_server_stores_runs_and_publishes_their_events(
    tmp_path: Path, redis_db: redis.Redis
) -> None:
    settings = Settings(data_dir=tmp_path / "data", redis_url=REDIS_URL)
    listener = redis_db.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(scoped(ALL_EVENTS, redis_db))
    try:
        with serving(build_app(settings)) as running, \
                httpx.Client(base_url=running.url) as http:
            run_id = new_id()
            created = http.post("/api/v1/runs", json={"scenario": scenario_text(),
                                                      "run_id": run_id})
            assert created.status_code == 201
            assert http.post(f"/api/v1/runs/{run_id}/pause").status_code == 200
            assert http.get("/api/health/detailed").json()["status"] == "ok"
            published: list[str] = []
            deadline = time.monotonic() + 3
            while len(published) < 2 and time.monotonic() < deadline:
                message = listener.get_message(timeout=0.1)
                if message and json.loads(message["data"])["run_id"] == run_id:
                    published.append(json.loads(message["data"])["event_type"])
            assert published == ["pause_requested", "simulation_paused"]
        assert (tmp_path / "data" / "apart.db").is_file()
    finally:
        listener.close()


def test_stopping_the_server_ends_open_event_streams_at_once(
    tmp_path: Path, redis_db: redis.Redis
) -> None:
    app = build_app(Settings(data_dir=tmp_path / "data", redis_url=REDIS_URL))
    ended: list[float] = []
    with serving(app) as running:
        def listen() -> None:
            with httpx.Client(base_url=running.url, timeout=10) as http, \
                    http.stream("GET", "/api/v1/events") as response:
                for _ in response.iter_lines():
                    pass
            ended.append(time.monotonic())

        listener = threading.Thread(target=listen)
        listener.start()
        deadline = time.monotonic() + 5
        while app.state.apart.streams.open == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        stopping = time.monotonic()
        running.stop()
        stopped = time.monotonic()
        listener.join(5)
    # well before the graceful timeout (1 s here), and the stream ended cleanly
    assert ended and ended[0] - stopping < 0.8
    assert stopped - stopping < 0.8 and not running.thread.is_alive()
    assert app.state.apart.streams.open == 0

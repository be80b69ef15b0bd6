"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright,
against real `apart server` and `apart worker` processes (SQLite in tmp, Redis db 7).

Screenshots of every stage go to test-artifacts/dashboard/. Without /usr/bin/chromium
(or the playwright package) the tests are skipped, except in CI (CI=true), where
.ci/run installs chromium and they must run.
"""

from __future__ import annotations

import os
import re
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

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
APART = [sys.executable, "-m", "apart.cli.app"]
REDIS_URL = "redis://127.0.0.1:6379/7"
TOKEN = "dashboard-test-token"
#: an agent answer that would run script if the page rendered LLM text as HTML
PAYLOAD = ('<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> '
           "step {step}")
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
DANGER_BLOCK = ('danger: {detector: false, rules: [{name: seeded, when: "tension >= 0", '
                "category: escalation, severity: high}]}\n")


def _playwright_or_skip() -> Any:
    """The sync Playwright module, or a skip (a failure in CI) saying what is missing."""
    in_ci = os.environ.get("CI") == "true"
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            from playwright import sync_api
        except ImportError:
            missing = "the playwright package is missing (pip install -e '.[test]')"
    if missing is not None:
        if in_ci:
            pytest.fail(f"browser tests must run in CI, but {missing}", pytrace=False)
        pytest.skip(f"browser tests skipped: {missing}")
    return sync_api


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """`apart server` (and optionally `apart worker`) as subprocesses on one tmp directory."""

    def __init__(self, root: Path, token: str | None = None) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("APART_")}
        self.env.update(APART_DATA_DIR=str(root / "data"), APART_REDIS_URL=REDIS_URL,
                        APART_PORT=str(self.port), APART_HEARTBEAT_INTERVAL="0.5",
                        APART_LOG_LEVEL="WARNING")
        if token:
            self.env["APART_API_TOKEN"] = token
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, command: str) -> None:
        log = (self.root / f"{command}.log").open("wb")
        self.procs.append(subprocess.Popen(
            [*APART, command], cwd=self.root, env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True))

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not come up; log:\n{self.log('server')}")

    def log(self, command: str) -> str:
        path = self.root / f"{command}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def run(self, run_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/api/v1/runs/{run_id}", headers=headers, timeout=5)
        response.raise_for_status()
        detail: dict[str, Any] = response.json()
        return detail

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def sync_api() -> Any:
    return _playwright_or_skip()


@pytest.fixture(scope="module")
def browser(sync_api: Any) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    c = Cluster(tmp_path)
    c.start("server")
    c.wait_until_up()
    c.start("worker")
    try:
        yield c
    finally:
        c.stop()


class Watched:
    """A page whose console errors, failed requests and foreign requests are recorded."""

    def __init__(self, browser: Any, origin: str) -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 860})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(
            f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("request", lambda r: r.url.startswith(origin) or r.url.startswith(
            "data:") or self.problems.append(f"request outside the server: {r.url}"))

    def shot(self, name: str, full_page: bool = False, element: Any = None) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = element if element is not None else self.page
        kwargs = {} if element is not None else {"full_page": full_page}
        target.screenshot(path=str(ARTIFACTS / f"{name}.png"), **kwargs)

    def close(self) -> None:
        self.context.close()


def _scenario(tmp_path: Path) -> Path:
    text = scenario_text(steps=6, latency_ms=300).replace(
        "The board reviews step {step} and waits.", "'" + PAYLOAD + "'") + DANGER_BLOCK
    path = tmp_path / "watchable.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _step_text(page: Any, run_id: str) -> str:
    return str(page.locator(f'tr[data-run-id="{run_id}"] [data-role="step"]').inner_text())


def _status(page: Any, run_id: str) -> str:
    return str(page.locator(f'tr[data-run-id="{run_id}"] .status').inner_text())


def _watch_steps_advance(page: Any, run_id: str, until: int, timeout: float = 20) -> list[int]:
    """The step numbers the row showed, polled until it reaches ``until``."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = _step_text(page, run_id)
        match = re.match(r"(\d+)/6", text)
        if match and (not seen or int(match.group(1)) != seen[-1]):
            seen.append(int(match.group(1)))
        if seen and seen[-1] >= until:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the step counter of {run_id} showed only {seen}")


def _wait_status(page: Any, run_id: str, wanted: set[str], timeout: float = 20) -> list[str]:
    """The statuses the row showed until one of ``wanted``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(page, run_id)
        if not seen or status != seen[-1]:
            seen.append(status)
        if status in wanted:
            return seen
        time.sleep(0.03)
    raise AssertionError(f"run {run_id} showed {seen}, never {wanted}")


def test_start_watch_pause_resume_and_inspect_a_run(
    browser: Any, cluster: Cluster, tmp_path: Path, sync_api: Any
) -> None:
    watched = Watched(browser, cluster.url)
    page = watched.page
    run_id = "watch-me"
    page.goto(cluster.url + "/")
    page.get_by_role("heading", name="Runs").wait_for()
    page.get_by_text("No runs yet").wait_for()
    page.locator('#connection[data-state="live"]').wait_for()
    watched.shot("01-runs-empty")

    # a scenario the server refuses: its detail is shown, nothing is started
    page.get_by_role("link", name="Start a run").first.click()
    page.fill("#scenario", "max_steps: 0\nmood: grim\n")
    page.get_by_role("button", name="Start run").click()
    error = page.locator(".form-error")
    expect = sync_api.expect
    expect(error).to_contain_text("max_steps: must be at least 1")
    expect(error).to_contain_text("unknown key 'mood'")
    watched.shot("02a-start-form-error")

    # start a run from a scenario file, read by the browser into the form
    page.set_input_files("#scenario-file", str(_scenario(tmp_path)))
    expect(page.locator("#scenario")).to_have_value(re.compile("max_steps: 6"))
    page.fill("#run-id", run_id)
    page.select_option("#provider", "scripted")
    assert error.is_hidden()  # a new scenario clears the old refusal
    watched.shot("02-start-form", full_page=True)
    page.get_by_role("button", name="Start run").click()
    page.locator(".flash-ok", has_text=f"run {run_id} queued").wait_for()

    # the runs list follows it live
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    row.wait_for()
    seen = _watch_steps_advance(page, run_id, until=2)
    assert len(seen) >= 2, f"the counter did not move live: {seen}"
    watched.shot("03-running")

    # pause: `pausing` (the server's answer) or `paused`, then `paused`
    page.get_by_role("button", name=f"Pause run {run_id}", exact=True).click()
    statuses = _wait_status(page, run_id, {"paused"}, timeout=10)
    assert set(statuses) <= {"running", "pausing", "paused"}, statuses
    assert "pausing" in statuses, statuses  # the server's answer, shown until the worker pauses
    assert cluster.run(run_id)["pauseReason"] == "user"
    paused_at = int(_step_text(page, run_id).split("/")[0])
    assert paused_at < 6
    assert page.get_by_role("button", name=f"Pause run {run_id}", exact=True).is_disabled()
    watched.shot("04-paused")

    # resume, to the end
    page.get_by_role("button", name=f"Resume run {run_id}", exact=True).click()
    _wait_status(page, run_id, {"completed"}, timeout=30)
    expect(row.locator('[data-role="step"]')).to_have_text("6/6")
    assert row.locator(".danger-count").inner_text() == "1"
    assert row.locator(".col-cost").inner_text() == "$0"
    watched.shot("05-completed")

    # the run page: charts with data, the seeded signal, the timeline, escaped text
    row.get_by_role("link", name=run_id).click()
    page.get_by_role("heading", name=re.compile(run_id)).wait_for()
    tension = page.locator('figure[data-variable="global:tension"] polyline.series')
    tension.wait_for()
    assert len(tension.get_attribute("points").split()) == 7  # steps 0..6
    capability = page.locator('figure[data-variable="agent:capability"] polyline.series')
    assert capability.count() >= 3
    assert all(len(capability.nth(i).get_attribute("points").split()) == 7
               for i in range(capability.count()))
    signal_row = page.locator('.danger-table tr[data-rule="seeded"]')
    assert signal_row.count() == 1
    assert "escalation" in signal_row.inner_text() and "high" in signal_row.inner_text()
    assert page.locator("details.step").count() == 7
    assert page.locator("details.step[open]").get_attribute("data-step") == "6"
    watched.shot("06a-run-page-top")
    page.locator('details.step[data-step="2"] > summary').click()
    step_two = page.locator('details.step[data-step="2"]')
    step_two.locator(".step-body").wait_for()
    shown = str(step_two.text_content())
    assert "Received" in shown and "Answered" in shown
    assert "<script>window.__pwned=2</script> step 2" in shown
    assert page.evaluate("window.__pwned") is None
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator('[data-role="danger-count"]').inner_text() == "1"
    watched.shot("06-run-page", full_page=True)
    watched.shot("07-charts", element=page.locator("#variables"))
    watched.shot("08-danger-and-usage", element=page.locator("#danger"))
    watched.shot("09-timeline", element=step_two)
    # the refused scenario is the only failed request
    assert [p for p in watched.problems if "status of 422" not in p] == []
    watched.close()


def test_the_run_page_is_live_and_force_pauses_and_resumes(
    browser: Any, cluster: Cluster, sync_api: Any
) -> None:
    text = scenario_text(steps=5, latency_ms=300) + DANGER_BLOCK
    started = httpx.post(f"{cluster.url}/api/v1/runs", json={"scenario": text, "run_id": "live"},
                         timeout=10)
    assert started.status_code == 201, started.text
    watched = Watched(browser, cluster.url)
    page = watched.page
    page.goto(f"{cluster.url}/#/runs/live")
    counter = page.locator('[data-role="steps"]')
    counter.wait_for()

    def steps_done() -> int:
        match = re.match(r"(\d+) / 5", counter.inner_text())
        return int(match.group(1)) if match else -1

    seen: list[int] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not seen or seen[-1] < 2):
        if steps_done() >= 0 and (not seen or steps_done() != seen[-1]):
            seen.append(steps_done())
        time.sleep(0.05)
    assert len(seen) >= 2 and seen[-1] >= 2, f"the run page did not follow the run: {seen}"
    assert page.locator("details.step").count() >= 3
    assert page.locator('figure[data-variable="global:tension"] polyline.series').count() == 1

    # force pause from the run page: `paused` within a second or so, honest all along
    page.get_by_role("button", name="Force pause run live").click()
    badge = page.locator(".run-head .status")
    sync_api.expect(badge).to_have_text("paused", timeout=5000)
    assert cluster.run("live")["pauseReason"] == "user_force"
    assert "pause reason: user_force" in page.locator(".run-head").inner_text()
    watched.shot("11-run-page-paused")

    page.get_by_role("button", name="Resume run live", exact=True).click()
    sync_api.expect(badge).to_have_text("completed", timeout=30000)
    sync_api.expect(page.locator("details.step")).to_have_count(6)
    assert page.locator('figure[data-variable="global:tension"] polyline.series') \
        .get_attribute("points").count(",") == 6
    assert page.locator(".run-title .controls").is_hidden()  # nothing applies to a finished run
    assert watched.problems == []
    watched.close()


def test_without_the_event_stream_the_runs_list_polls(
    browser: Any, cluster: Cluster, sync_api: Any
) -> None:
    watched = Watched(browser, cluster.url)
    page = watched.page
    page.route(re.compile(r".*/api/v1/(runs/[^/]+/)?events.*"), lambda route: route.abort())
    page.goto(cluster.url + "/")
    sync_api.expect(page.locator("#connection")).to_have_attribute("data-state", "polling")
    text = scenario_text(steps=3, latency_ms=100)
    started = httpx.post(f"{cluster.url}/api/v1/runs", json={"scenario": text, "run_id": "polled"},
                         timeout=10)
    assert started.status_code == 201, started.text
    row = page.locator('tr[data-run-id="polled"]')
    sync_api.expect(row.locator(".status")).to_have_text("completed", timeout=20000)
    sync_api.expect(row.locator('[data-role="step"]')).to_have_text("3/3")
    # the aborted streams are the only failed requests
    assert all("ERR_FAILED" in p for p in watched.problems), watched.problems
    watched.close()


def test_a_server_with_a_token_asks_for_it_and_then_lists_runs(
    browser: Any, tmp_path: Path, sync_api: Any
) -> None:
    cluster = Cluster(tmp_path, token=TOKEN)
    cluster.start("server")
    try:
        cluster.wait_until_up()
        watched = Watched(browser, cluster.url)
        page = watched.page
        page.goto(cluster.url + "/")
        panel = page.locator("#token-panel")
        page.locator("#token-reason", has_text="requires a token").wait_for()
        watched.shot("10-token")
        page.get_by_label("API token", exact=True).fill(TOKEN)
        page.get_by_role("button", name="Use this token").click()
        page.get_by_text("No runs yet").wait_for()
        assert panel.is_hidden()
        assert page.evaluate("sessionStorage.getItem('apart.token')") == TOKEN
        # the 401s before the token are the only console errors (failed fetches)
        assert all("401" in p for p in watched.problems), watched.problems
        watched.close()
    finally:
        cluster.stop()


def test_the_dashboard_is_static_self_contained_and_outside_the_api_schema(
    cluster: Cluster,
) -> None:
    index = httpx.get(cluster.url + "/", timeout=5)
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in index.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', index.text)
    assert "/assets/main.js" in assets and "/assets/style.css" in assets
    for name in ("main.js", "api.js", "sse.js", "dom.js", "chart.js", "controls.js", "runs.js",
                 "start.js", "run.js", "panels.js", "timeline.js", "style.css"):
        asset = httpx.get(f"{cluster.url}/assets/{name}", timeout=5)
        assert asset.status_code == 200, name
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(",
                             asset.text), name
        # nothing is loaded from elsewhere (the SVG namespace is a name, not a request)
        assert not re.search(r"https?://", asset.text.replace(SVG_NAMESPACE, "")), name
    missing = httpx.get(f"{cluster.url}/assets/..%2Fsettings.py", timeout=5)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    paths = httpx.get(f"{cluster.url}/openapi.json", timeout=5).json()["paths"]
    assert "/" not in paths and not any(p.startswith("/assets") for p in paths)

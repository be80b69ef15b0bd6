"""The `apart` command. It only translates: parse flags, call one backend method,
print the result, and map errors to exit codes (0 ok, 1 error, 2 usage).

Without ``APART_API_URL`` the backend is local (SQLite in the data directory, runs
executing in this process); with it, the backend is a client of that server."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from apart.config import Settings
from apart.errors import ApartError, InvalidRequest
from apart.runs.lifecycle import Submission
from apart.runs.status import RunStatus

from .backend import Backend, JsonObj
from .display import (
    Progress,
    detail_table,
    estimate_table,
    event_line,
    runs_table,
    signals_table,
)

app = typer.Typer(
    name="apart",
    help="Run multi-agent LLM simulations as durable jobs you can pause, resume and inspect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON object.")]
RunIdArg = Annotated[str, typer.Argument(help="The run's id (see `apart list`).")]
ApiUrlOpt = Annotated[str | None, typer.Option(
    "--api-url", help="Use the apart server at this URL (default: $APART_API_URL, else local).")]
BudgetUsdOpt = Annotated[float | None, typer.Option(
    help="Pause before the run would cost more than this (USD).")]
BudgetTokensOpt = Annotated[int | None, typer.Option(
    help="Pause before the run would use more tokens than this.")]
ACTIVE_STATUSES = ("pending", "running", "pausing")


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _print_error(message: str, label: str = "error") -> None:
    _err().print(Text.assemble((f"{label}: ", "bold red"), message))


def fail(message: str, code: int = 1) -> NoReturn:
    _print_error(message)
    raise typer.Exit(code)


def _backend(api_url: str | None = None) -> Backend:
    settings = Settings.load()
    url = api_url or settings.api_url
    if url:
        from .remote import Remote

        return Remote.open(settings, url)
    from .local import Local

    return Local.open(settings)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def _follow(backend: Backend, run_id: str, action: str) -> None:
    """Show the run's progress until it stops running; report how it ended."""
    console = _out()
    detail = backend.detail(run_id)
    with Progress(console, detail) as progress:
        final = backend.follow(run_id, action, progress)
    _report_end(console, final)


def _report_end(console: Console, run: JsonObj) -> None:
    run_id, status = run["runId"], run["status"]
    step = "-" if run["currentStep"] is None else run["currentStep"]
    where = f"at step {step}/{run['maxSteps']}"
    if status == RunStatus.COMPLETED:
        console.print(f"[green]completed[/green] run {run_id} {where}. "
                      f"Inspect it with `apart show {run_id}` or `apart export {run_id}`.")
    elif status == RunStatus.PAUSED:
        console.print(f"[yellow]paused[/yellow] run {run_id} {where} "
                      f"(reason: {run['pauseReason']}). Continue with `apart resume {run_id}`.")
    elif status == RunStatus.FAILED:
        fail(f"run {run_id} failed {where}: {run['error']}\n"
             f"Fix the cause, then continue from the last saved step with `apart resume {run_id}`.")
    else:
        console.print(f"run {run_id} is {status} {where}.")


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Run id (default: generated).")]
    = None,
    priority: Annotated[str, typer.Option("--priority", "-p", help="high, normal or low.")]
    = "normal",
    save_frequency: Annotated[int, typer.Option("--save-frequency", "-sf",
                                                help="Save a checkpoint every N steps.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the scenario's, else random).")]
    = None,
    max_steps: Annotated[int | None, typer.Option(help="Override the scenario's max_steps.")]
    = None,
    provider: Annotated[str | None, typer.Option(
        help="Use this provider for every role, e.g. `scripted` for an offline dry run.")] = None,
    pause_at_step: Annotated[int | None, typer.Option(help="Pause after this step.")] = None,
    budget_usd: BudgetUsdOpt = None,
    budget_tokens: BudgetTokensOpt = None,
    estimate: Annotated[bool, typer.Option(
        "--estimate", help="Only estimate the run's cost from the price table; start nothing.")]
    = False,
    follow: Annotated[bool, typer.Option("--follow/--detach",
                                         help="Show progress here, or run in the background.")]
    = True,
    api_url: ApiUrlOpt = None,
) -> None:
    """Start a run of SCENARIO and show its progress (Ctrl+C pauses it)."""
    text = _read_scenario(scenario)
    if estimate:
        _estimate(text, str(scenario), seed, max_steps, provider)
        return
    backend = _backend(api_url)
    budget = {k: v for k, v in (("max_usd", budget_usd), ("max_tokens", budget_tokens))
              if v is not None}
    started = backend.submit(Submission(
        scenario_text=text, source=str(scenario), scenario_name=scenario.stem, run_id=name,
        seed=seed, max_steps=max_steps, save_frequency=save_frequency, priority=priority,
        provider_override=provider, pause_at_step=pause_at_step, budget=budget or None,
    ))
    run_id = started["run_id"]
    _out().print(started["message"])
    if not follow:
        _out().print(backend.detach(run_id) + f"; watch it with `apart watch {run_id}`")
        return
    _follow(backend, run_id, "start")


def _estimate(text: str, source: str, seed: int | None, max_steps: int | None,
              provider: str | None) -> None:
    from apart.llm.pricing import Pricing
    from apart.scenario.loader import load_scenario_text
    from apart.sim.estimate import estimate_run

    loaded = load_scenario_text(text, source)
    steps = max_steps or loaded.max_steps
    found = estimate_run(loaded, seed if seed is not None else (loaded.seed or 0), steps,
                         Pricing.load(Settings.load().prices_file), provider)
    _out().print(estimate_table(found))
    unpriced = [r.role for r in found.roles if not r.priced]
    _out().print(f"about ${found.cost_usd:.2f} and {found.tokens:,} tokens for {steps} steps "
                 "(prompts measured offline; real answers vary in length)"
                 + (f"; not in the price table: {', '.join(unpriced)} (counted as $0, set "
                    "APART_PRICES_FILE)" if unpriced else ""))


def _read_scenario(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"scenario file {path} does not exist")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read scenario file {path}: {exc}")


@app.command()
def pause(
    run_id: RunIdArg,
    force: Annotated[bool, typer.Option("--force", "-f",
                                        help="Pause now, cancelling the calls in flight.")]
    = False,
    at_step: Annotated[int | None, typer.Option(help="Pause after this step instead.")] = None,
    as_json: JsonOpt = False,
    api_url: ApiUrlOpt = None,
) -> None:
    """Pause a run: at the end of the step in progress, now (--force), or later (--at-step)."""
    backend = _backend(api_url)
    answer = backend.pause(run_id, force, at_step)
    if as_json:
        _print_json(answer)
        return
    message = answer["message"]
    if at_step is None:
        detail = _await_end_of_activity(backend, run_id)
        if detail["status"] not in ACTIVE_STATUSES:
            message = f"run {run_id} is {detail['status']} at step {detail['currentStep']}"
    _out().print(message)


def _await_end_of_activity(backend: Backend, run_id: str, seconds: float = 3.0) -> JsonObj:
    """Wait briefly so the user sees `paused` (or `stopped`) when it comes quickly."""
    deadline = time.monotonic() + seconds
    detail = backend.detail(run_id)
    while detail["status"] in ("running", "pausing") and time.monotonic() < deadline:
        time.sleep(0.1)
        detail = backend.detail(run_id)
    return detail


@app.command()
def resume(
    run_id: RunIdArg,
    follow: Annotated[bool, typer.Option("--follow/--detach",
                                         help="Show progress here, or run in the background.")]
    = True,
    budget_usd: BudgetUsdOpt = None,
    budget_tokens: BudgetTokensOpt = None,
    as_json: JsonOpt = False,
    api_url: ApiUrlOpt = None,
) -> None:
    """Continue a paused, interrupted or failed run from its last saved step."""
    backend = _backend(api_url)
    answer = backend.resume(run_id, budget_usd, budget_tokens)
    if as_json:
        _print_json(answer)
        follow = False
    else:
        _out().print(answer["message"])
    if answer.get("run_status") == RunStatus.RUNNING:  # a pending pause was cancelled
        return
    if not follow:
        message = backend.detach(run_id)
        if not as_json:
            _out().print(message)
        return
    _follow(backend, run_id, "resume")


@app.command()
def stop(run_id: RunIdArg, as_json: JsonOpt = False, api_url: ApiUrlOpt = None) -> None:
    """Stop a run for good (its saved steps are kept)."""
    backend = _backend(api_url)
    answer = backend.stop(run_id)
    if as_json:
        _print_json(answer)
        return
    detail = _await_end_of_activity(backend, run_id)
    _out().print(f"run {run_id} is {detail['status']}"
                 + ("" if detail["status"] == RunStatus.STOPPED else " (stop requested)"))


@app.command(name="list")
def list_runs(
    status: Annotated[str | None, typer.Option("--status", "-s", help="Only runs in this status.")]
    = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue after a previous page.")] = None,
    as_json: JsonOpt = False,
    api_url: ApiUrlOpt = None,
) -> None:
    """List runs, newest first."""
    if status is not None and status not in {s.value for s in RunStatus}:
        fail(f"unknown status '{status}'; use one of: {', '.join(s.value for s in RunStatus)}", 2)
    page = _backend(api_url).runs(status, limit, cursor)
    if as_json:
        _print_json(page)
    elif not page["runs"]:
        _out().print("no runs yet: start one with `apart run scenarios/demo.yaml`"
                     if status is None else f"no {status} runs")
    else:
        _out().print(runs_table(page["runs"]))
        if page.get("nextCursor"):
            _out().print(f"more: apart list --cursor {page['nextCursor']}")


@app.command()
def show(run_id: RunIdArg, as_json: JsonOpt = False, api_url: ApiUrlOpt = None) -> None:
    """Show a run: status, progress, variables, usage."""
    detail = _backend(api_url).detail(run_id)
    if as_json:
        _print_json(detail)
        return
    _out().print(detail_table(detail))
    if detail.get("dangerSignals"):
        _out().print(signals_table(detail["dangerSignals"]))


@app.command()
def watch(
    run_id: RunIdArg,
    as_json: JsonOpt = False,
    after: Annotated[int, typer.Option(help="Start after this event id.")] = 0,
    api_url: ApiUrlOpt = None,
) -> None:
    """Print a run's events as they are saved, until it stops running."""
    backend = _backend(api_url)
    console = _out()
    for envelope in backend.events(run_id, after, follow=True):
        if as_json:
            sys.stdout.write(json.dumps(envelope, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            console.print(event_line(envelope), markup=False)
    if not as_json:
        console.print(f"run {run_id} is {backend.detail(run_id)['status']}")


@app.command()
def validate(scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")]) -> None:
    """Check a scenario file and explain every problem found."""
    from apart.scenario.loader import load_scenario_file

    loaded = load_scenario_file(scenario)
    _out().print(
        f"{scenario} is valid: {len(loaded.agents)} agents, {len(loaded.global_vars)} global "
        f"and {len(loaded.agent_vars)} agent variables, {loaded.max_steps} steps"
    )


@app.command()
def export(
    run_id: RunIdArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write into.")]
    = Path("results"),
    api_url: ApiUrlOpt = None,
) -> None:
    """Write state.json, events.jsonl and variables.csv to DIR/RUN_ID/."""
    target = _backend(api_url).export(run_id, out)
    _out().print(f"exported run {run_id} to {target}/")


@app.command()
def delete(run_id: RunIdArg, as_json: JsonOpt = False, api_url: ApiUrlOpt = None) -> None:
    """Delete a run and everything saved for it (not while it runs)."""
    answer = _backend(api_url).delete(run_id)
    if as_json:
        _print_json(answer)
    else:
        _out().print(answer["message"])


@app.command()
def replay(
    run_id: RunIdArg,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Id of the new run.")] = None,
    follow: Annotated[bool, typer.Option("--follow/--detach",
                                         help="Show progress here, or run in the background.")]
    = True,
    api_url: ApiUrlOpt = None,
) -> None:
    """Re-run a recorded run offline: its calls are played back, no provider is called."""
    backend = _backend(api_url)
    started = backend.replay(run_id, name)
    _out().print(started["message"])
    if not follow:
        _out().print(backend.detach(started["run_id"]))
        return
    _follow(backend, started["run_id"], "start")


@app.command()
def server(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: $APART_HOST, "
                                                  "127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: $APART_PORT, 8000).")] = None,
) -> None:
    """Serve the REST API with live events (same as `apart-server`)."""
    import dataclasses

    _require_server_extra("server")
    from apart.api.serve import serve

    _log_to_stderr()
    settings = Settings.load()
    changes = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    serve(dataclasses.replace(settings, **changes))


@app.command()
def worker(
    queues: Annotated[list[str] | None, typer.Argument(
        help="Queues to listen to (default: simulations-high, simulations, simulations-low).")]
    = None,
    burst: Annotated[bool, typer.Option(help="Exit once the queues are empty.")] = False,
    name: Annotated[str | None, typer.Option(help="Worker name (default: host.pid).")] = None,
) -> None:
    """Execute queued runs (server mode). SIGTERM hands the current run back to the queue."""
    _require_server_extra("worker")
    from apart.worker.queue import LISTEN_ORDER
    from apart.worker.runner import run_worker

    _log_to_stderr()
    code = run_worker(Settings.load(), tuple(queues) if queues else LISTEN_ORDER, burst, name)
    raise typer.Exit(code)


@app.command()
def report(
    run_id: RunIdArg,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="HTML file to write (default: RUN_ID-report.html).")] = None,
    api_url: ApiUrlOpt = None,
) -> None:
    """Write one self-contained HTML report of a run: charts, timeline, danger signals, usage."""
    from apart.report import write_report

    target, detail, steps = write_report(_backend(api_url), run_id,
                                         out or Path(f"{run_id}-report.html"))
    _out().print(f"wrote the report of run {run_id} to {target} ({len(steps)} saved steps, "
                 f"{detail['dangerCount']} danger signals); it opens offline in any browser")


def _require_server_extra(command: str) -> None:
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "redis", "rq")
               if importlib.util.find_spec(m) is None]
    if missing:
        fail(f"`apart {command}` needs the server extra ({', '.join(missing)} missing): "
             "pip install -e '.[server]' (or pip install 'apart[server]')")


def _log_to_stderr() -> None:
    """Long-running processes (server, worker) report what they do."""
    import logging

    logging.basicConfig(level=os.environ.get("APART_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _exit_code_for(exc: BaseException) -> int:
    return 2 if isinstance(exc, InvalidRequest) else 1


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning apart's errors into a message and exit code."""
    runner: Callable[..., Any] = typer.main.get_command(app)
    try:
        result = runner.main(args=argv, prog_name="apart", standalone_mode=False)
        if isinstance(result, int) and result:  # click returns an Exit's code here
            sys.exit(result)
    except ApartError as exc:
        _print_error(exc.message)
        sys.exit(_exit_code_for(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err().print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click's usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if code is not None and hasattr(exc, "show"):
            exc.show()
            sys.exit(code)
        if os.environ.get("APART_DEBUG"):
            raise
        _print_error(f"{type(exc).__name__}: {exc} (set APART_DEBUG=1 for the traceback)",
                     "internal error")
        sys.exit(1)


def server_main() -> None:
    """The `apart-server` command: the API, once the server extra is known to be there."""
    try:
        _require_server_extra("server")
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    from apart.api.serve import main as serve_main

    serve_main()


if __name__ == "__main__":
    main()

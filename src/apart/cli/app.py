"""The `apart` command. It only translates: parse flags, call one core function,
print the result, and map errors to exit codes (0 ok, 1 error, 2 usage)."""

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
from apart.runs import lifecycle, views
from apart.runs.export import export_run
from apart.runs.records import RunRecord
from apart.runs.status import ACTIVE, RunStatus

from .display import Progress, detail_table, event_line, runs_table
from .local import Local

app = typer.Typer(
    name="apart",
    help="Run multi-agent LLM simulations as durable jobs you can pause, resume and inspect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON object.")]
RunIdArg = Annotated[str, typer.Argument(help="The run's id (see `apart list`).")]


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _print_error(message: str, label: str = "error") -> None:
    _err().print(Text.assemble((f"{label}: ", "bold red"), message))


def fail(message: str, code: int = 1) -> NoReturn:
    _print_error(message)
    raise typer.Exit(code)


def _local() -> Local:
    settings = Settings.load()
    if settings.api_url:
        fail(f"APART_API_URL is set ({settings.api_url}), but this version of apart only "
             "works locally; unset APART_API_URL to use the local data directory")
    return Local.open(settings)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def _play(local: Local, run: RunRecord, action: str) -> RunRecord:
    """Execute the run here with live progress; report how it ended."""
    console = _out()
    with Progress(console, run) as progress:
        final = local.execute(run.id, progress.on_event, progress.notice, action)
    _report_end(console, final)
    return final


def _report_end(console: Console, run: RunRecord) -> None:
    step = "-" if run.current_step is None else run.current_step
    where = f"at step {step}/{run.max_steps}"
    if run.status == RunStatus.COMPLETED:
        console.print(f"[green]completed[/green] run {run.id} {where}. "
                      f"Inspect it with `apart show {run.id}` or `apart export {run.id}`.")
    elif run.status == RunStatus.PAUSED:
        console.print(f"[yellow]paused[/yellow] run {run.id} {where} "
                      f"(reason: {run.pause_reason}). Continue with `apart resume {run.id}`.")
    elif run.status == RunStatus.FAILED:
        fail(f"run {run.id} failed {where}: {run.error}\n"
             f"Fix the cause, then continue from the last saved step with `apart resume {run.id}`.")
    else:
        console.print(f"run {run.id} is {run.status} {where}.")


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
    follow: Annotated[bool, typer.Option("--follow/--detach",
                                         help="Show progress here, or run in the background.")]
    = True,
) -> None:
    """Start a run of SCENARIO and show its progress (Ctrl+C pauses it)."""
    text = _read_scenario(scenario)
    local = _local()
    record = local.submit(lifecycle.Submission(
        scenario_text=text, source=str(scenario), scenario_name=scenario.stem, run_id=name,
        seed=seed, max_steps=max_steps, save_frequency=save_frequency, priority=priority,
        provider_override=provider, pause_at_step=pause_at_step,
    ))
    if not follow:
        log = local.execute_detached(record.id)
        _out().print(f"started run {record.id} in the background (log: {log}); "
                     f"watch it with `apart watch {record.id}`")
        return
    _out().print(f"run {record.id}: {record.scenario_name}, {record.max_steps} steps, "
                 f"seed {record.seed}")
    _play(local, record, "start")


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
) -> None:
    """Pause a run: at the end of the step in progress, now (--force), or later (--at-step)."""
    local = _local()
    record = lifecycle.request_pause(local.store, run_id, force=force, at_step=at_step,
                                     heartbeat_timeout=local.timeout)
    if at_step is not None:
        message = f"run {run_id} will pause after step {at_step}"
    elif record.status == RunStatus.PAUSED:
        message = f"run {run_id} is paused"
    else:
        message = (f"run {run_id} is pausing" +
                   (" now (force)" if force else " at the end of the step in progress"))
        if not as_json:
            record = _await_pause(local, run_id) or record
            if record.status != RunStatus.PAUSING:
                message = f"run {run_id} is {record.status} at step {record.current_step}"
    if as_json:
        _print_json(views.pause_requested(record, message))
    else:
        _out().print(message)


def _await_pause(local: Local, run_id: str, seconds: float = 3.0) -> RunRecord | None:
    """Wait briefly so the user sees `paused` when it comes quickly."""
    deadline = time.monotonic() + seconds
    record = None
    while time.monotonic() < deadline:
        record = local.store.get_run(run_id)
        if record.status not in ACTIVE:
            return record
        time.sleep(0.1)
    return record


@app.command()
def resume(
    run_id: RunIdArg,
    follow: Annotated[bool, typer.Option("--follow/--detach",
                                         help="Show progress here, or run in the background.")]
    = True,
) -> None:
    """Continue a paused, interrupted or failed run from its last saved step."""
    local = _local()
    record = local.prepare_resume(run_id)
    if record.status == RunStatus.RUNNING:  # a pause not yet taken was cancelled
        _out().print(f"run {run_id} was still running; its pending pause is cancelled")
        return
    if not follow:
        log = local.execute_detached(run_id)
        _out().print(f"resumed run {run_id} in the background (log: {log})")
        return
    step = "the start" if record.current_step is None else f"step {record.current_step}"
    _out().print(f"resuming run {run_id} from {step}")
    _play(local, record, "resume")


@app.command()
def stop(run_id: RunIdArg) -> None:
    """Stop a run for good (its saved steps are kept)."""
    local = _local()
    record = lifecycle.request_stop(local.store, run_id, heartbeat_timeout=local.timeout)
    if record.status in ACTIVE:
        record = _await_pause(local, run_id) or record
    _out().print(f"run {run_id} is {record.status}"
                 + ("" if record.status == RunStatus.STOPPED else " (stop requested)"))


@app.command(name="list")
def list_runs(
    status: Annotated[str | None, typer.Option("--status", "-s", help="Only runs in this status.")]
    = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue after a previous page.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    if status is not None and status not in {s.value for s in RunStatus}:
        fail(f"unknown status '{status}'; use one of: {', '.join(s.value for s in RunStatus)}", 2)
    local = _local()
    runs, next_cursor = local.store.list_runs(status=status, limit=limit, cursor=cursor)
    runs = [lifecycle.reap_if_dead(local.store, r, local.timeout) for r in runs]
    if as_json:
        _print_json(views.run_list(runs, next_cursor))
    elif not runs:
        _out().print("no runs yet: start one with `apart run scenarios/demo.yaml`"
                     if status is None else f"no {status} runs")
    else:
        _out().print(runs_table(runs))


@app.command()
def show(run_id: RunIdArg, as_json: JsonOpt = False) -> None:
    """Show a run: status, progress, variables, usage."""
    local = _local()
    record = lifecycle.get_run(local.store, run_id, heartbeat_timeout=local.timeout)
    detail = views.run_detail(record, local.store.latest_checkpoint(run_id))
    if as_json:
        _print_json(detail)
    else:
        _out().print(detail_table(detail))


@app.command()
def watch(
    run_id: RunIdArg,
    as_json: JsonOpt = False,
    after: Annotated[int, typer.Option(help="Start after this event id.")] = 0,
) -> None:
    """Print a run's events as they are saved, until it stops running."""
    local = _local()
    store = local.store
    console = _out()
    last = after
    while True:
        record = lifecycle.get_run(store, run_id, heartbeat_timeout=local.timeout)
        for event in store.events(run_id, after_id=last):
            last = event.id
            if as_json:
                sys.stdout.write(json.dumps(event.envelope(), ensure_ascii=False) + "\n")
                sys.stdout.flush()
            else:
                console.print(event_line(event), markup=False)
        if record.status not in (*ACTIVE, RunStatus.PENDING) and not store.events(run_id, last):
            if not as_json:
                console.print(f"run {run_id} is {record.status}")
            return
        time.sleep(0.3)


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
) -> None:
    """Write state.json, events.jsonl and variables.csv to DIR/RUN_ID/."""
    local = _local()
    target = export_run(local.store, run_id, out)
    _out().print(f"exported run {run_id} to {target}/")


@app.command()
def delete(run_id: RunIdArg) -> None:
    """Delete a run and everything saved for it (not while it runs)."""
    local = _local()
    lifecycle.delete_run(local.store, run_id, heartbeat_timeout=local.timeout)
    _out().print(f"deleted run {run_id}")


def _exit_code_for(exc: BaseException) -> int:
    return 2 if isinstance(exc, InvalidRequest) else 1


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning apart's errors into a message and exit code."""
    runner: Callable[..., Any] = typer.main.get_command(app)
    try:
        runner.main(args=argv, prog_name="apart", standalone_mode=False)
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


if __name__ == "__main__":
    main()

"""Errors of apart, split by who must act on them.

* the scenario author: :class:`ScenarioError` (a list of located problems);
* the operator: :class:`ConfigError` (data directory, database, settings);
* the user of a run: :class:`RunNotFound`, :class:`RunIdTaken`,
  :class:`InvalidTransition` (the run is in the wrong status for the request);
* the run itself: :class:`ProviderError`, :class:`SimulatorContractError`,
  :class:`LeaseLost` (another process owns the run now).

Every error carries a human ``message`` (a sentence that names the problem and,
where there is one, the fix) and a machine ``code``. They pickle cleanly, because
RQ moves them between processes. The CLI maps them to exit codes and the API to
HTTP statuses, each in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ApartError(Exception):
    """Base class: ``message`` for people, ``code`` for programs."""

    code = "apart_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[ApartError], state: dict[str, Any]) -> ApartError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


@dataclass(frozen=True)
class ScenarioIssue:
    """One problem in a scenario file: where, what, and how to fix it."""

    path: str  # YAML path, e.g. "agents[2].variables.trust" ("" for the whole file)
    problem: str  # e.g. "1.4 is above max 1.0"
    fix: str = ""  # e.g. "use a value between 0.0 and 1.0"

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        fix = f" (fix: {self.fix})" if self.fix else ""
        return f"{where}{self.problem}{fix}"


class ScenarioError(ApartError):
    """The scenario cannot be used; ``issues`` lists every problem found."""

    code = "invalid_scenario"

    def __init__(self, issues: list[ScenarioIssue], source: str = "") -> None:
        self.issues = list(issues)
        self.source = source
        head = f"{source} is not a valid scenario" if source else "invalid scenario"
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"{head}:\n{lines}" if lines else head)


class ConfigError(ApartError):
    """The operator must fix the environment (data dir, database URL, settings)."""

    code = "config_error"


class RunNotFound(ApartError):
    code = "run_not_found"

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run with id '{run_id}' (see `apart list`)")


class RunIdTaken(ApartError):
    code = "run_id_taken"

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"a run with id '{run_id}' already exists; choose another name with -n "
            f"or delete the old run with `apart delete {run_id}`"
        )


class InvalidTransition(ApartError):
    """The run's status does not allow the request; the message names the status."""

    code = "invalid_state"

    def __init__(self, run_id: str, status: str, action: str, hint: str = "") -> None:
        self.run_id = run_id
        self.status = status
        self.action = action
        self.hint = hint
        text = f"cannot {action} run '{run_id}': it is {status}"
        super().__init__(f"{text}; {hint}" if hint else text)


class LeaseLost(ApartError):
    """This process no longer owns the run (its epoch moved on): it must not write."""

    code = "lease_lost"

    def __init__(self, run_id: str, epoch: int) -> None:
        self.run_id = run_id
        self.epoch = epoch
        super().__init__(
            f"run '{run_id}' is now owned by another process (epoch {epoch} is stale); "
            "this process stopped without writing"
        )


class ProviderError(ApartError):
    """An LLM call failed for good (after retries, or for a reason retries cannot fix)."""

    code = "provider_error"

    def __init__(self, message: str, *, provider: str = "", retryable: bool = False,
                 quota: bool = False) -> None:
        self.provider = provider
        self.retryable = retryable
        self.quota = quota
        super().__init__(message)


class SimulatorContractError(ApartError):
    """The simulator's output broke the contract of DESIGN §4 (fed back on retry)."""

    code = "simulator_contract"


class InvalidRequest(ApartError):
    """A request's own arguments are wrong (a bad run id, a step out of range)."""

    code = "invalid_request"

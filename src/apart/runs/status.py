"""Run statuses and the transitions between them (DESIGN §5)."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"


class PauseReason(StrEnum):
    USER = "user"
    USER_FORCE = "user_force"
    AT_STEP = "at_step"
    BUDGET = "budget"
    QUOTA = "quota"
    DANGER = "danger"


S = RunStatus

TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    S.PENDING: frozenset({S.RUNNING, S.PAUSED, S.STOPPED}),
    S.RUNNING: frozenset(
        {S.PAUSING, S.PAUSED, S.COMPLETED, S.FAILED, S.STOPPED, S.INTERRUPTED}
    ),
    S.PAUSING: frozenset(
        {S.PAUSED, S.RUNNING, S.COMPLETED, S.FAILED, S.STOPPED, S.INTERRUPTED}
    ),
    S.PAUSED: frozenset({S.PENDING, S.STOPPED}),
    S.INTERRUPTED: frozenset({S.PENDING, S.STOPPED}),
    S.FAILED: frozenset({S.PENDING, S.STOPPED}),
    S.COMPLETED: frozenset(),
    S.STOPPED: frozenset(),
}

#: a process may be executing the run
ACTIVE = frozenset({S.RUNNING, S.PAUSING})
#: ``resume`` accepts these
RESUMABLE = frozenset({S.PAUSED, S.INTERRUPTED, S.FAILED})
#: ``pause`` accepts these
PAUSABLE = frozenset({S.PENDING, S.RUNNING, S.PAUSING})
TERMINAL = frozenset({S.COMPLETED, S.STOPPED})


def can_transition(src: RunStatus | str, dst: RunStatus | str) -> bool:
    return RunStatus(dst) in TRANSITIONS[RunStatus(src)]

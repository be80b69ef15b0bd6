"""Is the process that owns a run still alive?

An owner is recorded as ``host:pid:start`` (``start`` is the process start time
from /proc, so a reused pid is not mistaken for the owner). On the same host
the process table answers at once; elsewhere only the heartbeat can.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # the command name (field 2) may hold spaces: split after its closing paren
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def this_process_owner() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def _local_process_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    current = _start_ticks(pid)
    if not current:  # no /proc: trust kill(0)
        return True
    if not start:
        return True
    return current == start and not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] == "Z"


def owner_alive(
    owner: str | None,
    heartbeat_at: datetime | None,
    timeout_s: float,
    now: datetime | None = None,
) -> bool:
    """False when the owner is certainly gone (local pid dead) or silent too long."""
    now = now or datetime.now(UTC)
    if owner:
        host, _, rest = owner.partition(":")
        pid_text, _, start = rest.partition(":")
        if host == socket.gethostname() and pid_text.isdigit():
            if not _local_process_alive(int(pid_text), start):
                return False
    if heartbeat_at is None:
        return owner is not None and owner.partition(":")[0] == socket.gethostname()
    return now - heartbeat_at <= timedelta(seconds=timeout_s)

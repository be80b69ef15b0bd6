"""The run a worker process is executing, so that a shutdown can give it back.

A signal handler (or another thread) calls :meth:`RunSlot.release`; the
executor, on its own event loop, then discards the step in progress, keeps the
completed steps and ends its claim ``interrupted`` (see
:meth:`apart.runs.executor.RunExecutor.release`). No locks: a signal handler
runs on the thread that may hold them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apart.runs.executor import RunExecutor

log = logging.getLogger(__name__)

#: seconds between checks for the claim when a release arrives before it
_CLAIM_RETRY_S = 0.05


class RunSlot:
    def __init__(self) -> None:
        #: this process is shutting down: give the run back, start no other
        self.releasing = False
        self._current: tuple[asyncio.AbstractEventLoop, RunExecutor] | None = None

    @property
    def busy(self) -> bool:
        return self._current is not None

    def occupy(self, loop: asyncio.AbstractEventLoop, executor: RunExecutor) -> None:
        """Record the executor about to run on ``loop``; release it at once if asked already."""
        self._current = (loop, executor)
        if self.releasing:
            self.release()

    def vacate(self) -> None:
        self._current = None

    def release(self) -> bool:
        """Ask the executing run, if any, to give itself up. Safe in a signal handler.

        Returns True when a run was executing (it will end ``interrupted`` shortly)."""
        self.releasing = True
        current = self._current
        if current is None:
            return False
        loop, executor = current
        try:
            loop.call_soon_threadsafe(_release_once_claimed, loop, executor)
        except RuntimeError:  # the loop has closed: the run has already ended
            return False
        return True


def _release_once_claimed(loop: asyncio.AbstractEventLoop, executor: RunExecutor) -> None:
    if executor.epoch == 0:  # not claimed yet: releasing now would be a no-op
        loop.call_later(_CLAIM_RETRY_S, _release_once_claimed, loop, executor)
        return
    log.info("run %s: giving the run back (this worker is shutting down)", executor.run_id)
    executor.release()

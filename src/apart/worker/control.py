"""Pause and stop requests for the run being executed, as soon as they are published.

Requests are stored on the run record first and then published on
:data:`apart.bus.CONTROL`; the executor polls the record anyway, so this
listener only makes them land sooner. It runs in a daemon thread with a
synchronous pub/sub connection, survives Redis going away (it reconnects with
backoff) and never raises into the job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from apart.bus import CONTROL, decode, scoped

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

#: seconds a read waits for a message before checking whether to stop
_READ_TIMEOUT_S = 0.25
_FIRST_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 5.0


class ControlListener:
    """Calls ``on_request(action)`` (in its own thread) for each request about ``run_id``."""

    def __init__(self, redis: Redis, run_id: str, on_request: Callable[[str], None]) -> None:
        self.redis = redis
        self.run_id = run_id
        self.on_request = on_request
        #: set while subscribed (cleared while Redis is unreachable)
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        self._session_ok = False
        self._failures = 0
        self._thread = threading.Thread(
            target=self._run, name=f"apart-control-{run_id}", daemon=True
        )

    def start(self) -> ControlListener:
        self._thread.start()
        return self

    def stop(self, wait: float = 0.0) -> None:
        """Stop listening; ``wait`` seconds at most for the thread to finish."""
        self._stop.set()
        if wait > 0 and self._thread.is_alive():
            self._thread.join(wait)

    def _run(self) -> None:
        backoff = _FIRST_BACKOFF_S
        while not self._stop.is_set():
            self._session_ok = False
            try:
                self._listen()
                return
            except Exception as exc:  # Redis down or restarted: try again later
                if self._session_ok:  # it had worked: a new outage
                    backoff = _FIRST_BACKOFF_S
                if self._failures == 0:
                    log.warning("run %s: control channel unavailable (%s); the run record "
                                "is still polled; reconnecting", self.run_id, exc)
                self._failures += 1
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def _listen(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(scoped(CONTROL, self.redis))
            if self._failures:
                log.info("run %s: control channel back", self.run_id)
            self._session_ok = True
            self._failures = 0
            self.subscribed.set()
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=_READ_TIMEOUT_S)
                if message is not None:
                    self._handle(message)
        finally:
            self.subscribed.clear()
            try:
                pubsub.close()
            except Exception:  # the connection is already gone
                log.debug("run %s: closing the control subscription failed", self.run_id)

    def _handle(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            request = decode(message["data"])
        except (ValueError, UnicodeDecodeError):
            log.debug("ignoring a malformed control message: %r", message.get("data"))
            return
        if request.get("run_id") != self.run_id:
            return
        action = str(request.get("action", ""))
        log.debug("run %s: control request %s", self.run_id, action)
        try:
            self.on_request(action)
        except Exception:  # e.g. the run's event loop has closed: nothing left to tell
            log.debug("run %s: control request %s not delivered", self.run_id, action,
                      exc_info=True)

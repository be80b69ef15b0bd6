"""What went wrong in one provider call, in words the retry loop acts on.

Each adapter turns its SDK's exceptions into a :class:`Failure` (see
``classify`` in the adapters); :mod:`apart.llm.retry` decides from its
``kind`` whether to wait and try again, and how to report it for good.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal

FailureKind = Literal[
    "rate_limit",  # 429: slow down, try again
    "quota",  # the account's quota is spent: retrying now cannot help
    "server",  # 5xx, 408, 409: the vendor's trouble, usually brief
    "timeout",  # no answer within the call's timeout
    "connection",  # the endpoint could not be reached or dropped the connection
    "rejected",  # 400, 401, 403, 404, 422...: the request itself is wrong
    "malformed",  # an answer apart cannot read
    "error",  # anything else the SDK raised
]
RETRYABLE_KINDS: frozenset[str] = frozenset({"rate_limit", "server", "timeout", "connection"})
#: statuses retried besides 429 and 5xx (request timeout, conflict, too early)
_RETRYABLE_STATUSES = frozenset({408, 409, 425})
#: words in a 429 body that mean the quota (billing) is spent, not a burst limit
_QUOTA_WORDS = ("insufficient_quota", "exceeded your current quota", "billing")
_MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    status: int | None = None
    retry_after_s: float | None = None

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def describe(self) -> str:
        """``HTTP 503: overloaded`` / ``timed out`` — for error messages."""
        head = f"HTTP {self.status}" if self.status is not None else self.kind.replace("_", " ")
        return f"{head}: {self.message}" if self.message else head


def status_failure(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> Failure:
    """The failure for an HTTP error status with the vendor's ``message``."""
    text = short(message)
    wait = retry_after_seconds(headers or {})
    if status == 429:
        spent = any(word in text.lower() for word in _QUOTA_WORDS)
        return Failure("quota" if spent else "rate_limit", text, status, wait)
    if status >= 500 or status in _RETRYABLE_STATUSES:
        return Failure("server", text, status, wait)
    return Failure("rejected", text, status)


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a vendor asks us to wait: ``retry-after-ms``, or ``Retry-After`` as
    seconds or an HTTP date; None when absent or unreadable. Never negative."""
    lower = {k.lower(): v for k, v in headers.items()}
    raw_ms = lower.get("retry-after-ms", "").strip()
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = lower.get("retry-after", "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_message(body: Any, fallback: str = "") -> str:
    """The human message in a vendor's error body (``{"error": {"message": ...}}`` and kin)."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            found = inner.get("message") or inner.get("error")
            if found:
                return short(str(found))
        elif isinstance(inner, str) and inner:
            return short(inner)
        if body.get("message"):
            return short(str(body["message"]))
    if isinstance(body, str) and body.strip():
        return short(body)
    return short(fallback)


def short(text: str) -> str:
    """One line of at most a few hundred characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= _MAX_MESSAGE_CHARS else flat[: _MAX_MESSAGE_CHARS - 1] + "…"

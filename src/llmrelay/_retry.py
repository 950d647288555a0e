"""When to retry a failed attempt and how long to wait: shared by sync and async calls."""

from __future__ import annotations

import email.utils
import random
import time
from typing import Any

from .exceptions import (
    APIConnectionError,
    InternalServerError,
    LLMRelayError,
    RateLimitError,
    Timeout,
)

__all__ = ["MAX_RETRY_AFTER", "backoff_delay", "is_retryable", "timeout_seconds"]

INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


# 429s that mean "out of money or quota", not "slow down": another attempt gets the same.
_NO_RETRY_MARKERS = ("insufficient_quota", "enforced_spend_limit_reached",
                     "billing_hard_limit_reached")


def is_retryable(exc: BaseException) -> bool:
    """408/409/429/5xx replies and connection failures are worth another attempt, except a
    429 that reports an exhausted quota or spend limit."""
    if isinstance(exc, RateLimitError) and _out_of_quota(exc):
        return False
    if isinstance(exc, (APIConnectionError, Timeout, RateLimitError, InternalServerError)):
        return True
    return isinstance(exc, LLMRelayError) and exc.status_code in _RETRY_STATUS


def _out_of_quota(exc: LLMRelayError) -> bool:
    if exc.code in _NO_RETRY_MARKERS:
        return True
    body = (exc.response_body or "")[:8000]
    return any(marker in body for marker in _NO_RETRY_MARKERS)


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(exc, "response_headers", None) or {}
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


def backoff_delay(attempt: int, exc: BaseException | None = None,
                  initial: float = INITIAL_DELAY) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    A ``Retry-After``/``retry-after-ms`` header from the server wins (capped at
    :data:`MAX_RETRY_AFTER`); otherwise exponential backoff with jitter: a random value in
    [50%, 100%] of ``initial * 2**attempt``, capped at :data:`MAX_DELAY`.
    """
    if exc is not None:
        told = _retry_after(exc)
        if told is not None:
            return float(min(told, MAX_RETRY_AFTER))
    base: float = min(initial * 2.0 ** attempt, MAX_DELAY)
    return base * (0.5 + random.random() / 2)


def timeout_seconds(timeout: Any) -> float | None:
    """A request timeout in seconds (an ``httpx.Timeout``: its read timeout; a numeric
    string as LiteLLM accepts it), or None when there is none."""
    if isinstance(timeout, str):
        try:
            timeout = float(timeout)
        except ValueError:
            return None
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return float(timeout) if timeout > 0 else None
    read = getattr(timeout, "read", None)
    return float(read) if isinstance(read, (int, float)) and read > 0 else None

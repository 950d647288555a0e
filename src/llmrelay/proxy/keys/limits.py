"""Per-key limits checked before any upstream call: blocked/expired keys, allowed models,
budgets, requests and tokens per minute, and requests in flight.

The counters live in this process's memory (no database or Redis round trip), so with
``--workers N`` each worker enforces the limits on its own share of the traffic.

Windows: rpm and tpm use a sliding one-minute window, estimated from two fixed minutes
(the current count plus the previous minute's count weighted by how much of it still lies
inside the last 60 s). A request counts when :meth:`Limiter.acquire` admits it; its tokens
count when :meth:`Limiter.release` hands them back. Statuses:

========================  ======  ======================
what                      status  ``code``
========================  ======  ======================
key blocked               401     ``key_blocked``
key expired               401     ``key_expired``
model not in ``models``   401     ``model_not_allowed``
spend >= ``max_budget``   400     ``budget_exceeded``
rpm / tpm / parallel      429     ``rate_limit_exceeded``
========================  ======  ======================

A model the key may not use is a 401 (as LiteLLM answers it), not a 403: the key is not
authorised for that model.
"""

from __future__ import annotations

import fnmatch
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .models import KeyRecord, utcnow

__all__ = ["Lease", "LimitExceeded", "Limiter", "model_allowed"]

_WINDOW = 60.0
_ALL_MODELS = frozenset({"*", "all-proxy-models"})


class LimitExceeded(Exception):
    """A key may not make this request. ``status_code`` (401, 400 or 429), ``message``,
    ``code`` (see the module table), ``type`` (OpenAI-style error type), and for 429
    ``retry_after`` (seconds) with ``headers`` = ``{"retry-after": "N"}``."""

    def __init__(self, status_code: int, message: str, code: str, *, type: str,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.code = code
        self.type = type
        self.retry_after = retry_after
        self.headers = ({"retry-after": str(max(1, math.ceil(retry_after)))}
                        if retry_after is not None else {})


def model_allowed(models: list[str], model: str) -> bool:
    """True when ``models`` (empty = all) lets a key use ``model``; entries may be
    ``"*"``, ``"all-proxy-models"`` or shell-style patterns like ``"openai/*"``."""
    if not models or model in models:
        return True
    return any(m in _ALL_MODELS or ("*" in m and fnmatch.fnmatchcase(model, m))
               for m in models)


class _Counts:
    """Requests and tokens of one key in the current and previous fixed minute."""

    __slots__ = ("in_flight", "minute", "req_cur", "req_prev", "tok_cur", "tok_prev")

    def __init__(self, minute: int) -> None:
        self.minute = minute
        self.req_cur = self.req_prev = 0
        self.tok_cur = self.tok_prev = 0
        self.in_flight = 0

    def roll(self, minute: int) -> None:
        if minute == self.minute:
            return
        if minute == self.minute + 1:
            self.req_prev, self.tok_prev = self.req_cur, self.tok_cur
        else:
            self.req_prev = self.tok_prev = 0
        self.req_cur = self.tok_cur = 0
        self.minute = minute

    def estimate(self, now: float) -> tuple[float, float]:
        """Sliding-window (requests, tokens) over the last 60 s."""
        weight = 1.0 - (now - self.minute * _WINDOW) / _WINDOW
        return (self.req_cur + self.req_prev * weight, self.tok_cur + self.tok_prev * weight)


class Lease:
    """One admitted request; hand it back with :meth:`Limiter.release` (once)."""

    __slots__ = ("counts", "released", "token")

    def __init__(self, token: str, counts: _Counts) -> None:
        self.token = token
        self.counts = counts
        self.released = False


def _rate(message: str, retry_after: float) -> LimitExceeded:
    return LimitExceeded(429, message, "rate_limit_exceeded", type="rate_limit_error",
                         retry_after=retry_after)


class Limiter:
    """In-process limits per key token; thread-safe. ``clock`` (seconds, monotonic or
    wall) and ``now`` (aware datetime, for expiry) are injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._now = now
        self._counts: dict[str, _Counts] = {}
        self._lock = threading.Lock()
        self._admitted = 0

    def check(self, rec: KeyRecord, model: str, spend_now: float) -> None:
        """Raise :class:`LimitExceeded` if ``rec`` may not call ``model`` now.

        ``spend_now`` is the key's spend including usage not yet written (see
        ``SpendWriter.spend_of``). When the record's budget window has ended (a cached
        record the store has not reset yet) only the spend beyond the stored one counts.
        Counts nothing: :meth:`acquire` admits the request.
        """
        now = self._now()
        label = rec.key_alias or rec.token[:8] + "..."
        if rec.blocked:
            raise LimitExceeded(401, f"Key {label} is blocked", "key_blocked",
                                type="auth_error")
        if rec.is_expired(now):
            assert rec.expires is not None
            raise LimitExceeded(401, f"Key {label} expired at {rec.expires.isoformat()}",
                                "key_expired", type="auth_error")
        if not model_allowed(rec.models, model):
            raise LimitExceeded(401, f"Key {label} may not use model {model!r}; allowed: "
                                f"{', '.join(rec.models)}", "model_not_allowed",
                                type="auth_error")
        if rec.max_budget is not None:
            spend = spend_now - rec.spend if rec.window_over(now) else spend_now
            if spend >= rec.max_budget:
                raise LimitExceeded(400, f"Budget has been exceeded: key {label} spent "
                                    f"${spend:.6f} of max_budget ${rec.max_budget:.6f}",
                                    "budget_exceeded", type="budget_exceeded")
        with self._lock:
            counts = self._counts.get(rec.token) or _Counts(int(self._clock() // _WINDOW))
            self._check_rates(rec, counts, label, tokens=True)

    def _check_rates(self, rec: KeyRecord, counts: _Counts, label: str, *,
                     tokens: bool) -> None:
        """Raise 429 if the key is at a limit (call with the lock held)."""
        now = self._clock()
        counts.roll(int(now // _WINDOW))
        retry = (counts.minute + 1) * _WINDOW - now
        limit = rec.max_parallel_requests
        if limit is not None and counts.in_flight >= limit:
            raise _rate(f"Key {label} has {counts.in_flight} requests in flight; "
                        f"max_parallel_requests is {limit}", 1.0)
        requests, used = counts.estimate(now)
        if rec.rpm_limit is not None and requests >= rec.rpm_limit:
            raise _rate(f"Key {label} reached its rpm_limit of {rec.rpm_limit} requests "
                        "per minute", retry)
        if tokens and rec.tpm_limit is not None and used >= rec.tpm_limit:
            raise _rate(f"Key {label} reached its tpm_limit of {rec.tpm_limit} tokens "
                        "per minute", retry)

    def acquire(self, rec: KeyRecord) -> Lease:
        """Admit one request: count it (rpm) and hold an in-flight slot until
        :meth:`release`. Raises :class:`LimitExceeded` (429) if rpm, tpm or
        max_parallel_requests is reached (checked again here, atomically with counting)."""
        label = rec.key_alias or rec.token[:8] + "..."
        with self._lock:
            counts = self._counts.get(rec.token)
            if counts is None:
                counts = self._counts[rec.token] = _Counts(int(self._clock() // _WINDOW))
            self._check_rates(rec, counts, label, tokens=True)
            counts.req_cur += 1
            counts.in_flight += 1
            self._admitted += 1
            if self._admitted % 1024 == 0:
                self._prune()
        return Lease(rec.token, counts)

    def release(self, lease: Lease | None, tokens_used: int = 0) -> None:
        """Hand back the in-flight slot and count ``tokens_used`` for tpm (idempotent)."""
        if lease is None or lease.released:
            return
        with self._lock:
            if lease.released:
                return
            lease.released = True
            counts = lease.counts
            counts.in_flight = max(counts.in_flight - 1, 0)
            counts.roll(int(self._clock() // _WINDOW))
            counts.tok_cur += max(int(tokens_used or 0), 0)

    def usage(self, token: str) -> dict[str, Any]:
        """The key's current counters: ``in_flight``, ``requests`` and ``tokens`` (sliding
        minute estimates)."""
        with self._lock:
            counts = self._counts.get(token)
            if counts is None:
                return {"in_flight": 0, "requests": 0.0, "tokens": 0.0}
            now = self._clock()
            counts.roll(int(now // _WINDOW))
            requests, tokens = counts.estimate(now)
            return {"in_flight": counts.in_flight, "requests": requests, "tokens": tokens}

    def _prune(self) -> None:
        """Forget idle keys whose counts no longer matter (lock held)."""
        minute = int(self._clock() // _WINDOW)
        idle = [t for t, c in self._counts.items() if c.in_flight == 0 and c.minute < minute - 1]
        for token in idle:
            del self._counts[token]

"""What the router knows about each deployment: load, usage, latency, cooldowns.

All state lives in one :class:`Health` per router, guarded by one lock (held only for a few
arithmetic operations, never across I/O), so sync threads and event loops may share it.

Usage windows are sliding: "this minute" means the last 60 seconds. A deployment is
*unavailable* while it cools down, while its ``max_parallel_requests`` requests are in
flight, and, under the strategies that route by usage (``usage_limits``: latency-, usage-
and cost-based routing, as in LiteLLM), while the requests started in the last minute
reach its ``rpm`` or the tokens used in the last minute reach its ``tpm``. Under
``simple-shuffle`` and ``least-busy`` rpm/tpm are routing weights only, never a refusal
(LiteLLM sends on; the provider's own 429 then cools the deployment down).

Usage is counted only where something reads it: requests for a deployment with an ``rpm``,
tokens for one with a ``tpm`` or when the routing strategy ranks by usage
(``track_tokens``). Otherwise a request only updates the in-flight counter and the
latency average: nothing per request is kept. Counted usage lives in one-second buckets (:class:`_Window`), so memory stays
bounded (at most 61 buckets per counter) however many requests a minute brings; an event
counts for between 60 and 61 seconds, never less, so a limit is never overshot.

Cooldown rule (:func:`cooldown_seconds`):

* errors that are the caller's fault (400-class ``BadRequestError`` and its subclasses such
  as ``ContextWindowExceededError``, ``422``) never count: any deployment would refuse them;
* ``429 RateLimitError``, ``401 AuthenticationError``, ``403 PermissionDeniedError`` and
  ``404 NotFoundError`` cool the deployment down at once: it is overloaded or misconfigured
  and the next request would fail the same way. A 429's ``Retry-After`` extends the
  cooldown when it is longer than ``cooldown_time`` (capped at 60 s);
* any other failure (5xx, timeout, connection error) is counted; when a deployment has
  failed *more than* ``allowed_fails`` times within a minute it cools down.

A cooldown lasts ``cooldown_time`` seconds and clears the failure count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .._retry import MAX_RETRY_AFTER, _retry_after
from ..exceptions import (
    AuthenticationError,
    BadRequestError,
    LLMRelayError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Timeout,
    UnprocessableEntityError,
)
from .config import Deployment

__all__ = ["WINDOW", "Health", "Unavailable", "cooldown_seconds"]

WINDOW = 60.0
_IMMEDIATE = (RateLimitError, AuthenticationError, PermissionDeniedError, NotFoundError)
_CALLERS_FAULT = (BadRequestError, UnprocessableEntityError)


def counts_as_failure(exc: BaseException) -> bool:
    """False for errors the caller caused (and for cancellation): they say nothing about
    the deployment's health."""
    if isinstance(exc, _CALLERS_FAULT):
        return False
    return isinstance(exc, Exception)


def cooldown_seconds(exc: BaseException, recent_fails: int, allowed_fails: int,
                     cooldown_time: float) -> float | None:
    """How long to cool a deployment down after ``exc``, or None to keep it in rotation.

    ``recent_fails`` counts the failures within the last minute, this one included.
    """
    if not counts_as_failure(exc):
        return None
    if isinstance(exc, _IMMEDIATE):
        seconds = cooldown_time
        if isinstance(exc, RateLimitError):
            told = _retry_after(exc)
            if told is not None:
                seconds = max(seconds, min(told, MAX_RETRY_AFTER))
        return seconds
    if recent_fails > allowed_fails:
        return cooldown_time
    return None


@dataclass(frozen=True)
class Unavailable:
    """Why a deployment cannot take a request now, and until when (monotonic seconds)."""

    deployment: Deployment
    reason: str
    until: float
    rate_limited: bool  # an rpm/tpm limit or a 429, rather than errors


class _Window:
    """Event counts over the last :data:`WINDOW` seconds, in one-second buckets."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()  # [second, count], oldest first
        self.total = 0

    def add(self, now: float, n: int = 1) -> None:
        second = math.floor(now)
        if self.buckets and self.buckets[-1][0] >= second:
            self.buckets[-1][1] += n  # same second (or a clock that stepped back)
        else:
            self.buckets.append([second, n])
        self.total += n

    def prune(self, now: float) -> None:
        # bucket s holds events of [s, s + 1): drop it once its newest is WINDOW old
        edge = now - WINDOW - 1
        while self.buckets and self.buckets[0][0] <= edge:
            self.total -= self.buckets.popleft()[1]

    def frees_at(self, now: float) -> float:
        """When the oldest counted events stop counting (monotonic seconds)."""
        return self.buckets[0][0] + 1 + WINDOW if self.buckets else now + WINDOW


class _State:
    __slots__ = ("cool_reason", "cool_until", "cooled_by_429", "fails", "in_flight", "latency",
                 "latency_at", "requests", "samples", "tokens")

    def __init__(self, requests: bool, tokens: bool) -> None:
        self.in_flight = 0
        self.requests: _Window | None = _Window() if requests else None
        self.tokens: _Window | None = _Window() if tokens else None
        self.fails: deque[float] = deque()  # at most allowed_fails + 1: a cooldown clears it
        self.cool_until = 0.0
        self.cool_reason = ""
        self.cooled_by_429 = False
        self.latency: float | None = None
        self.latency_at = 0.0
        self.samples = 0

    def prune(self, now: float) -> None:
        if self.requests is not None:
            self.requests.prune(now)
        if self.tokens is not None:
            self.tokens.prune(now)
        edge = now - WINDOW
        while self.fails and self.fails[0] <= edge:
            self.fails.popleft()


class Health:
    """Per-deployment load, usage, latency (EWMA) and cooldowns of one router."""

    def __init__(self, allowed_fails: int = 3, cooldown_time: float = 5.0, alpha: float = 0.3,
                 clock: Callable[[], float] = time.monotonic, *,
                 track_tokens: bool = False, latency_ttl: float | None = None,
                 max_parallel: int | None = None, usage_limits: bool = True) -> None:
        self.allowed_fails = allowed_fails
        self.latency_ttl = latency_ttl  # a latency not updated for this long is forgotten
        self.max_parallel = max_parallel  # in-flight limit of deployments that set none
        self.cooldown_time = cooldown_time
        self.alpha = alpha
        self.clock = clock
        self.track_tokens = track_tokens
        # whether a deployment's rpm/tpm is a limit (the usage-aware strategies) or only a
        # routing weight (simple-shuffle, least-busy), as LiteLLM's strategies treat them
        self.usage_limits = usage_limits
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}
        # Called as on_cooldown(deployment id, error, seconds) to start a cooldown :meth:`failed`
        # decided on (the router's ``cooldown_cache``); None: :meth:`cool` directly.
        self.on_cooldown: Callable[[str, BaseException, float], Any] | None = None

    def _fresh(self, dep: Deployment | None) -> _State:
        if dep is None:
            return _State(False, False)
        return _State(dep.rpm is not None, self.counts_tokens(dep))

    def _state(self, dep: Deployment) -> _State:
        st = self._states.get(dep.id)
        if st is None:
            st = self._states[dep.id] = self._fresh(dep)
        return st

    # ---- availability ---------------------------------------------------------------------
    def _check(self, dep: Deployment, now: float) -> Unavailable | None:
        st = self._state(dep)
        st.prune(now)
        if st.cool_until > now:
            return Unavailable(dep, st.cool_reason, st.cool_until, st.cooled_by_429)
        parallel = dep.max_parallel or self.max_parallel
        if parallel and st.in_flight >= parallel:
            return Unavailable(dep, f"max_parallel_requests {parallel} in flight", now + 1.0,
                               True)
        if not self.usage_limits:
            return None
        reqs, toks = st.requests, st.tokens
        if dep.rpm is not None and reqs is not None and reqs.total >= dep.rpm:
            return Unavailable(dep, f"rpm limit {dep.rpm} reached", reqs.frees_at(now), True)
        if dep.tpm is not None and toks is not None and toks.total >= dep.tpm:
            return Unavailable(dep, f"tpm limit {dep.tpm} reached ({toks.total} tokens)",
                               toks.frees_at(now), True)
        return None

    def partition(self, deps: Iterable[Deployment]
                  ) -> tuple[list[Deployment], list[Unavailable]]:
        """Split ``deps`` into those that can take a request now and those that cannot."""
        ready: list[Deployment] = []
        blocked: list[Unavailable] = []
        with self._lock:
            now = self.clock()
            for dep in deps:
                why = self._check(dep, now)
                if why is None:
                    ready.append(dep)
                else:
                    blocked.append(why)
        return ready, blocked

    # ---- bookkeeping ----------------------------------------------------------------------
    def started(self, dep: Deployment) -> None:
        """A request to ``dep`` starts: one more in flight (and, when ``dep`` has an
        ``rpm``, one more this minute)."""
        with self._lock:
            self._start(dep, self.clock())

    def _start(self, dep: Deployment, now: float) -> None:
        st = self._state(dep)
        st.in_flight += 1
        if st.requests is not None:
            st.requests.add(now)

    def try_start(self, dep: Deployment) -> bool:
        """:meth:`started` if ``dep`` can still take a request (checked under the same lock,
        so concurrent callers cannot overshoot its rpm); False otherwise."""
        with self._lock:
            now = self.clock()
            if self._check(dep, now) is not None:
                return False
            self._start(dep, now)
            return True

    def finished(self, dep: Deployment) -> None:
        """The request (or the stream) ended, successfully or not."""
        with self._lock:
            st = self._state(dep)
            st.in_flight = max(0, st.in_flight - 1)

    def counts_tokens(self, dep: Deployment) -> bool:
        """Whether :meth:`add_tokens` keeps anything for ``dep``."""
        return dep.tpm is not None or self.track_tokens

    def add_tokens(self, dep: Deployment, tokens: int) -> None:
        if tokens <= 0 or not self.counts_tokens(dep):
            return
        with self._lock:
            st = self._state(dep)
            if st.tokens is not None:
                st.tokens.add(self.clock(), tokens)

    def add_latency(self, dep: Deployment, seconds: float) -> None:
        """Fold one response time into the deployment's moving average."""
        with self._lock:
            self._latency(self._state(dep), seconds, self.clock())

    def _latency(self, st: _State, seconds: float, now: float) -> None:
        if st.latency is None or (self.latency_ttl is not None
                                  and now - st.latency_at > self.latency_ttl):
            st.latency = seconds
        else:
            st.latency = self.alpha * seconds + (1.0 - self.alpha) * st.latency
        st.latency_at = now
        st.samples += 1

    def settle(self, dep: Deployment, seconds: float, tokens: int) -> None:
        """A whole answer came back after ``seconds`` with ``tokens``: :meth:`add_latency`,
        :meth:`finished` and :meth:`add_tokens` under one hold of the lock."""
        with self._lock:
            st = self._state(dep)
            now = self.clock()
            self._latency(st, seconds, now)
            st.in_flight = max(0, st.in_flight - 1)
            if tokens > 0 and st.tokens is not None and self.counts_tokens(dep):
                st.tokens.add(now, tokens)

    def failed(self, dep: Deployment, exc: BaseException, duration: float,
               allowed_fails: int | None = None, cooldown_time: float | None = None
               ) -> float | None:
        """Count a failure; returns the cooldown (seconds) it started, if any.
        ``allowed_fails`` overrides the router's for this error (an allowed-fails policy),
        ``cooldown_time`` the cooldown length (a deployment's or a call's; 0: none)."""
        if isinstance(exc, Timeout):
            self.add_latency(dep, duration)  # a timed-out deployment must look slow
        if not counts_as_failure(exc):
            return None
        with self._lock:
            now = self.clock()
            st = self._state(dep)
            st.prune(now)
            st.fails.append(now)
            seconds = cooldown_seconds(
                exc, len(st.fails),
                self.allowed_fails if allowed_fails is None else allowed_fails,
                self.cooldown_time if cooldown_time is None else cooldown_time)
            if seconds is None or seconds <= 0:
                return None
            st.fails.clear()
        hook = self.on_cooldown
        if hook is not None:
            hook(dep.id, exc, seconds)
        else:
            self.cool(dep.id, exc, seconds)
        return seconds

    def cool(self, dep_id: str, exc: BaseException | None, seconds: float,
             dep: Deployment | None = None) -> None:
        """Take deployment ``dep_id`` (``dep``, when known) out of rotation for
        ``seconds`` (after ``exc``)."""
        with self._lock:
            now = self.clock()
            st = self._states.get(dep_id)
            if st is None:
                st = self._states[dep_id] = self._fresh(dep)
            st.cool_until = max(st.cool_until, now + seconds)
            st.cooled_by_429 = isinstance(exc, RateLimitError)
            message = exc.message if isinstance(exc, LLMRelayError) else str(exc)
            st.cool_reason = (f"cooling down after {type(exc).__name__}: {message[:200]}"
                              if exc is not None else "cooling down")

    # ---- read side ------------------------------------------------------------------------
    def in_flight(self, dep_id: str) -> int:
        st = self._states.get(dep_id)
        return st.in_flight if st is not None else 0

    def latency(self, dep_id: str) -> float | None:
        """The moving average response time (None: never measured, or not within
        ``latency_ttl``)."""
        st = self._states.get(dep_id)
        if st is None or st.latency is None:
            return None
        if self.latency_ttl is not None and self.clock() - st.latency_at > self.latency_ttl:
            return None
        return st.latency

    def tokens_used(self, dep_id: str) -> int:
        """Tokens counted in the last minute (0 when tokens are not counted for it)."""
        return self._used(dep_id, "tokens")

    def requests_used(self, dep_id: str) -> int:
        """Requests started in the last minute (0 when requests are not counted for it:
        a deployment without an ``rpm``)."""
        return self._used(dep_id, "requests")

    def _used(self, dep_id: str, what: str) -> int:
        with self._lock:
            st = self._states.get(dep_id)
            window: _Window | None = getattr(st, what) if st is not None else None
            if window is None:
                return 0
            window.prune(self.clock())
            return window.total

    def forget(self, dep_id: str) -> None:
        """Drop what is known about a deployment that no longer exists."""
        with self._lock:
            self._states.pop(dep_id, None)

    def cooldowns(self) -> dict[str, float]:
        """Deployment id -> seconds of cooldown left, for deployments cooling down now."""
        with self._lock:
            now = self.clock()
            return {i: st.cool_until - now for i, st in self._states.items()
                    if st.cool_until > now}

    def snapshot(self, dep_id: str, dep: Deployment | None = None) -> dict[str, Any]:
        """One deployment's state, for debugging and health endpoints.

        ``requests_last_minute`` / ``tokens_last_minute`` are None where they are not
        counted (see the module docstring)."""
        with self._lock:
            now = self.clock()
            st = self._states.get(dep_id) or self._fresh(dep)
            st.prune(now)
            return {"in_flight": st.in_flight,
                    "requests_last_minute": None if st.requests is None else st.requests.total,
                    "tokens_last_minute": None if st.tokens is None else st.tokens.total,
                    "fails_last_minute": len(st.fails), "latency_s": st.latency,
                    "latency_samples": st.samples,
                    "cooldown_left_s": max(0.0, st.cool_until - now),
                    "cooldown_reason": st.cool_reason if st.cool_until > now else None}

"""Limits checked before any upstream call: blocked/expired keys and allowed models
(:meth:`Limiter.check`, from the key record), then rpm, tpm, requests in flight and budgets
at every level of the request (:meth:`Limiter.admit`, through a limits backend: memory,
the machine's SQLite file, or Redis; see ``limit_backend.py``).

Budgets: admission reserves the request's worst-case cost (``reserve.py``) against what
is left; :meth:`Limiter.release` settles with the real cost and tokens. A request is
admitted while spend + reservations < ``max_budget``, so concurrent requests end at or
under the budget plus one request's worst case.

When the backend cannot be reached (Redis down, partitioned, too slow), the ``policy``
decides, for requests that have limits (others are not affected):

* ``fail_open``: admitted without their rpm/tpm/parallel limits checked (a key whose stored
  spend already reaches its budget is still refused); counted
  (``llmrelay_limits_unchecked_total``) and logged once per outage;
* ``fail_closed``: refused with a 503 ``limits_unavailable``.

Either way readiness says so, and the backend is probed every half second until it
answers; settlements made meanwhile are kept (bounded) and sent when it is back. There
is never a silent switch to counting in this process.

Statuses:

========================  ======  =========================
what                      status  ``code``
========================  ======  =========================
key blocked               401     ``key_blocked``
key expired               401     ``key_expired``
model not in ``models``   401     ``model_not_allowed``
spend >= ``max_budget``   400     ``budget_exceeded``
rpm / tpm / parallel      429     ``rate_limit_exceeded``
backend down, fail_closed 503     ``limits_unavailable``
========================  ======  =========================
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from .levels import Level, levels_for
from .limit_backend import BackendUnavailable, LimitBackend, MemoryBackend, Refusal
from .models import KeyRecord, utcnow

__all__ = ["Lease", "LimitExceeded", "Limiter", "model_allowed"]

log = logging.getLogger("llmrelay.proxy.keys")

_ALL_MODELS = frozenset({"*", "all-proxy-models"})
_FIELDS = {"parallel": "max_parallel_requests", "rpm": "rpm_limit", "tpm": "tpm_limit",
           "budget": "max_budget"}
_MAX_QUEUED_SETTLES = 100_000


class LimitExceeded(Exception):
    """A request may not go ahead. ``status_code`` (401, 400, 429 or 503), ``message``,
    ``code`` (see the module table), ``type`` (OpenAI-style error type), and for 429/503
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


class Lease:
    """One admitted request; hand it back with :meth:`Limiter.release` (once)."""

    __slots__ = ("id", "levels", "released", "reserved", "unchecked")

    def __init__(self, lease_id: str, levels: Sequence[Level], reserved: float,
                 unchecked: bool = False) -> None:
        self.id = lease_id
        self.levels = tuple(levels)
        self.reserved = reserved
        self.unchecked = unchecked  # admitted by fail_open without the backend
        self.released = False


def _refused(level: Level, refusal: Refusal) -> LimitExceeded:
    name = level.label[0].upper() + level.label[1:]
    if refusal.kind == "budget":
        return LimitExceeded(400, f"Budget has been exceeded: {level.label} has used "
                             f"${refusal.current:.6f} (spend plus requests in flight) of "
                             f"max_budget ${level.max_budget:.6f}", "budget_exceeded",
                             type="budget_exceeded")
    if refusal.kind == "parallel":
        message = (f"{name} has {int(refusal.current)} requests in flight; "
                   f"max_parallel_requests is {level.parallel}")
    elif refusal.kind == "rpm":
        message = f"{name} reached its rpm_limit of {level.rpm} requests per minute"
    else:
        message = f"{name} reached its tpm_limit of {level.tpm} tokens per minute"
    return LimitExceeded(429, message, "rate_limit_exceeded", type="rate_limit_error",
                         retry_after=max(refusal.retry_after, 0.001))


class Limiter:
    """The limits of every request (see the module docstring). ``backend`` defaults to
    :class:`MemoryBackend`; ``now`` (aware datetime, for expiry) is injectable."""

    def __init__(self, backend: LimitBackend | None = None, *, policy: str = "fail_open",
                 lease_ttl: float = 30.0, now: Callable[[], datetime] = utcnow) -> None:
        if policy not in ("fail_open", "fail_closed"):
            raise ValueError(f"limits failure policy {policy!r}: use fail_open or fail_closed")
        self.backend: LimitBackend = backend or MemoryBackend()
        self.policy = policy
        self.lease_ttl = lease_ttl
        self._now = now
        self._memory = self.backend if isinstance(self.backend, MemoryBackend) else None
        self._live: dict[str, Lease] = {}
        self._settles: deque[tuple[str, Sequence[Level], float, int]] = deque()
        self._down_until = 0.0
        self._down_for = 0.0
        self.problem: str | None = None  # why the backend is considered down
        self.backend_errors = 0
        self.unchecked = 0
        self.dropped_settles = 0
        self.refusals: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False

    # -- key state ---------------------------------------------------------------------
    def check(self, rec: KeyRecord, model: str) -> None:
        """Raise :class:`LimitExceeded` (401) for a blocked or expired key or a model the
        key may not use. Counts nothing."""
        label = rec.key_alias or rec.token[:8] + "..."
        if rec.blocked:
            raise LimitExceeded(401, f"Key {label} is blocked", "key_blocked",
                                type="auth_error")
        now = self._now()
        if rec.is_expired(now):
            assert rec.expires is not None
            raise LimitExceeded(401, f"Key {label} expired at {rec.expires.isoformat()}",
                                "key_expired", type="auth_error")
        if not model_allowed(rec.models, model):
            raise LimitExceeded(401, f"Key {label} may not use model {model!r}; allowed: "
                                f"{', '.join(rec.models)}", "model_not_allowed",
                                type="auth_error")

    # -- admission and settlement ------------------------------------------------------
    async def admit(self, auth: Any, lease_id: str, reserve: Callable[[], float],
                    unflushed: Callable[[str], float] | None = None,
                    extra: Sequence[Level] = ()) -> Lease | None:
        """Admit one request at every level of ``auth`` and ``extra`` (the levels above
        the key; None: it has no limits), holding ``reserve()`` USD against its budgets
        until :meth:`release`. Raises :class:`LimitExceeded` (429 / 400 / 503)."""
        levels = levels_for(auth, unflushed, extra)
        if not levels:
            return None
        held = reserve() if any(lv.max_budget is not None for lv in levels) else 0.0
        if self._memory is not None:
            refused = self._memory.admit_now(lease_id, levels, held)
        elif time.monotonic() < self._down_until:
            return self._without_backend(lease_id, levels, held)
        else:
            try:
                refused = await self.backend.admit(lease_id, levels, held, self.lease_ttl)
            except BackendUnavailable as exc:
                self._failed(exc)
                return self._without_backend(lease_id, levels, held)
            except asyncio.CancelledError:  # perhaps admitted: hand the lease back
                self._queue_settle((lease_id, levels, 0.0, 0))
                raise
            self._up()
        if refused is not None:
            self.refusals[refused.kind] = self.refusals.get(refused.kind, 0) + 1
            raise _refused(levels[refused.index], refused)
        lease = Lease(lease_id, levels, held)
        if self.backend.shared:
            self._live[lease_id] = lease
        return lease

    def _without_backend(self, lease_id: str, levels: Sequence[Level],
                         held: float) -> Lease:
        """The failure policy, while the backend is down."""
        if self.policy == "fail_closed":
            self.refusals["limits_unavailable"] = self.refusals.get("limits_unavailable",
                                                                    0) + 1
            raise LimitExceeded(503, f"Limits cannot be checked right now ({self.problem}); "
                                "general_settings.limits_failure_policy is fail_closed",
                                "limits_unavailable", type="service_unavailable",
                                retry_after=1.0)
        for level in levels:  # what is stored is still known: a spent budget stays spent
            if level.max_budget is not None and level.spend >= level.max_budget:
                refusal = Refusal(0, "budget", level.spend, 0.0)
                self.refusals["budget"] = self.refusals.get("budget", 0) + 1
                raise _refused(level, refusal)
        self.unchecked += 1
        return Lease(lease_id, levels, 0.0, unchecked=True)

    def release(self, lease: Lease | None, tokens: int = 0, cost: float | None = 0.0) -> None:
        """Settle ``lease`` with the request's real ``tokens`` and ``cost`` (idempotent;
        never raises, never waits)."""
        if lease is None or lease.released:
            return
        lease.released = True
        item = (lease.id, lease.levels, float(cost or 0.0), max(int(tokens or 0), 0))
        if self._memory is not None:
            self._memory.settle_now(*item)
            return
        self._live.pop(lease.id, None)
        self._queue_settle(item)

    def _queue_settle(self, item: tuple[str, Sequence[Level], float, int]) -> None:
        if len(self._settles) >= _MAX_QUEUED_SETTLES:
            self._settles.popleft()
            self.dropped_settles += 1
        self._settles.append(item)
        if self._wake is not None:
            self._wake.set()

    # -- backend health ----------------------------------------------------------------
    def _failed(self, exc: Exception) -> None:
        self.backend_errors += 1
        first = self.problem is None
        self.problem = str(exc)
        self._down_for = min(max(self._down_for * 2, 0.5), 5.0)
        self._down_until = time.monotonic() + self._down_for
        if first:
            log.error("llmrelay limits: the %s backend is unreachable (%s); policy %s: %s",
                      self.backend.name, exc, self.policy,
                      "requests with limits are refused" if self.policy == "fail_closed"
                      else "requests with limits are admitted without their limits checked")

    def _up(self) -> None:
        if self.problem is not None:
            log.warning("llmrelay limits: the %s backend answers again", self.backend.name)
        self.problem = None
        self._down_for = 0.0
        self._down_until = 0.0

    @property
    def backend_up(self) -> bool:
        return self.problem is None

    def stats(self) -> dict[str, Any]:
        return {"backend": self.backend.name, "policy": self.policy,
                "backend_up": self.backend_up, "backend_problem": self.problem,
                "backend_errors": self.backend_errors, "unchecked": self.unchecked,
                "refusals": dict(self.refusals), "in_flight": len(self._live),
                "settles_waiting": len(self._settles),
                "settles_dropped": self.dropped_settles}

    # -- background: settlements, heartbeats, probes -----------------------------------
    async def start(self) -> None:
        """Start the background task (shared backends only)."""
        if self._memory is not None or (self._task is not None and not self._task.done()):
            return
        self._closing = False
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name="llmrelay-limits")

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        beat = time.monotonic()
        while not self._closing:
            try:
                await asyncio.wait_for(wake.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
            wake.clear()
            if self._closing:
                break
            try:
                if self.problem is not None and time.monotonic() >= self._down_until:
                    await self.backend.ping()
                    self._up()
                if self.problem is None:
                    await self._send_settles()
                    if time.monotonic() - beat >= self.lease_ttl / 3:
                        beat = time.monotonic()
                        await self.backend.refresh(
                            [(lease.id, lease.levels) for lease in list(self._live.values())
                             if not lease.unchecked], self.lease_ttl)
            except BackendUnavailable as exc:
                self._failed(exc)
            except Exception:
                log.exception("llmrelay limits: unexpected error")

    async def _send_settles(self) -> None:
        while self._settles:
            batch = [self._settles[i] for i in range(min(len(self._settles), 200))]
            await self.backend.settle(batch)  # on failure the batch stays queued
            for _ in batch:
                self._settles.popleft()

    async def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (within ``timeout``), stop, close the backend. The task is
        asked to stop rather than cancelled first: on Python < 3.12 ``wait_for`` can
        swallow a cancellation that races its wake-up, and the loop would go on."""
        task, self._task = self._task, None
        self._closing = True
        if task is not None and not task.done():
            if self._wake is not None:
                self._wake.set()
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        if self._settles and self.problem is None:
            try:
                await asyncio.wait_for(self._send_settles(), timeout)
            except Exception as exc:
                log.warning("llmrelay limits: %d settlements not sent at close (%s)",
                            len(self._settles), exc)
        await self.backend.close()

"""What every limits backend does, and the in-process one.

A backend keeps, per level scope: the leases of requests in flight (each with its
expiry, heartbeated while the request runs, and its budget reservation), the admissions
of the last 60 s (rpm), the tokens settled in the last 60 s (tpm), and the spend of the
budget window. :meth:`LimitBackend.admit` checks every level and, only when all pass,
counts the request at all of them, atomically; :meth:`LimitBackend.settle` hands the
lease back with the request's real cost and tokens. Backends:

* :class:`MemoryBackend` (here): one process (``--workers 1``, no Redis);
* ``limit_sqlite.MachineBackend``: every worker on one machine (``--workers N``, no Redis);
* ``limit_redis.RedisBackend``: every worker of every instance sharing a Redis server.

Semantics, the same in all three (windows are sliding, not fixed minutes):

* ``parallel``: at most that many leases alive;
* ``rpm``: fewer than ``rpm`` admissions in the last 60 s;
* ``tpm``: fewer than ``tpm`` tokens settled in the last 60 s;
* ``max_budget``: admitted while spend + reservations of requests in flight < max_budget;
  so the final spend is at most the budget plus one request's worst case.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .levels import Level

__all__ = ["WINDOW", "WORKERS_ENV", "BackendUnavailable", "LimitBackend", "MemoryBackend",
           "Refusal", "open_backend"]

WINDOW = 60.0
WORKERS_ENV = "LLMRELAY_WORKERS"  # set by ``llmrelay serve --workers N`` for its workers


class BackendUnavailable(Exception):
    """The limits backend cannot be reached or did not answer in time."""


@dataclass(frozen=True)
class Refusal:
    """Why a request was not admitted: at ``levels[index]``, ``kind`` ("parallel", "rpm",
    "tpm" or "budget") was at ``current``; ``retry_after`` seconds until it may pass."""

    index: int
    kind: str
    current: float
    retry_after: float


class LimitBackend(Protocol):
    name: str
    shared: bool  # counts are shared with other processes (leases need heartbeats)

    async def admit(self, lease: str, levels: Sequence[Level], reserve: float,
                    ttl: float) -> Refusal | None: ...

    async def settle(self, items: Sequence[tuple[str, Sequence[Level], float, int]]
                     ) -> None:
        """Hand back leases: ``(lease, levels, cost, tokens)`` each (idempotent)."""

    async def refresh(self, leases: Sequence[tuple[str, Sequence[Level]]],
                      ttl: float) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


@dataclass
class _Scope:
    leases: dict[str, tuple[float, str]] = field(default_factory=dict)  # -> (reserve, win)
    admits: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    token_sum: int = 0
    spent: dict[str, float] = field(default_factory=dict)  # window -> usd
    reserved: dict[str, float] = field(default_factory=dict)  # window -> usd

    def expire(self, now: float) -> None:
        while self.admits and self.admits[0] <= now - WINDOW:
            self.admits.popleft()
        while self.tokens and self.tokens[0][0] <= now - WINDOW:
            self.token_sum -= self.tokens.popleft()[1]


def _check(scope: _Scope, level: Level, index: int, now: float) -> Refusal | None:
    if level.parallel is not None and len(scope.leases) >= level.parallel:
        return Refusal(index, "parallel", len(scope.leases), 1.0)
    if level.rpm is not None and len(scope.admits) >= level.rpm:
        oldest = scope.admits[0] if scope.admits else now
        return Refusal(index, "rpm", len(scope.admits), max(oldest + WINDOW - now, 0.001))
    if level.tpm is not None and scope.token_sum >= level.tpm:
        oldest = scope.tokens[0][0] if scope.tokens else now
        return Refusal(index, "tpm", scope.token_sum, max(oldest + WINDOW - now, 0.001))
    if level.max_budget is not None:
        spent = scope.spent.setdefault(level.window, level.spend)
        used = spent + scope.reserved.get(level.window, 0.0)
        if used >= level.max_budget:
            return Refusal(index, "budget", used, 0.0)
    return None


class MemoryBackend:
    """Counters in this process's memory: exact for one process (no heartbeats needed;
    the leases die with the process). Runs on the caller's thread: no I/O."""

    name = "memory"
    shared = False

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._scopes: dict[str, _Scope] = {}
        self._admitted = 0

    async def admit(self, lease: str, levels: Sequence[Level], reserve: float,
                    ttl: float) -> Refusal | None:
        return self.admit_now(lease, levels, reserve)

    def admit_now(self, lease: str, levels: Sequence[Level], reserve: float) -> Refusal | None:
        now = self._clock()
        scopes = []
        for i, level in enumerate(levels):
            scope = self._scopes.get(level.scope)
            if scope is None:
                scope = self._scopes[level.scope] = _Scope()
            scope.expire(now)
            refused = _check(scope, level, i, now)
            if refused is not None:
                return refused
            scopes.append(scope)
        for scope, level in zip(scopes, levels, strict=True):
            held = reserve if level.max_budget is not None else 0.0
            scope.leases[lease] = (held, level.window)
            if held:
                scope.reserved[level.window] = scope.reserved.get(level.window, 0.0) + held
            if level.rpm is not None:
                scope.admits.append(now)
        self._admitted += 1
        if self._admitted % 4096 == 0:
            self._prune(now)
        return None

    async def settle(self, items: Sequence[tuple[str, Sequence[Level], float, int]]
                     ) -> None:
        for lease, levels, cost, tokens in items:
            self.settle_now(lease, levels, cost, tokens)

    def settle_now(self, lease: str, levels: Sequence[Level], cost: float, tokens: int) -> None:
        now = self._clock()
        for level in levels:
            scope = self._scopes.get(level.scope)
            if scope is None:
                continue
            held = scope.leases.pop(lease, None)
            if held is None:
                continue  # settled before
            if held[0]:
                left = scope.reserved.get(held[1], 0.0) - held[0]
                scope.reserved[held[1]] = left if left > 1e-12 else 0.0
            if cost and level.max_budget is not None and level.window in scope.spent:
                scope.spent[level.window] += cost
            if tokens and level.tpm is not None:
                scope.tokens.append((now, tokens))
                scope.token_sum += tokens

    async def refresh(self, leases: Sequence[tuple[str, Sequence[Level]]],
                      ttl: float) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._scopes.clear()

    def usage(self, scope_name: str) -> dict[str, float]:
        """In flight, requests and tokens in the last 60 s of one scope (for tests)."""
        scope = self._scopes.get(scope_name)
        if scope is None:
            return {"in_flight": 0, "requests": 0, "tokens": 0}
        scope.expire(self._clock())
        return {"in_flight": len(scope.leases), "requests": len(scope.admits),
                "tokens": scope.token_sum}

    def _prune(self, now: float) -> None:
        """Forget idle scopes whose counts no longer matter (budget windows of keys
        with a budget are kept: they are the spend seen so far)."""
        for name in [n for n, s in self._scopes.items() if not s.leases and not s.spent]:
            scope = self._scopes[name]
            scope.expire(now)
            if not scope.admits and not scope.tokens:
                del self._scopes[name]


def open_backend(redis_url: str | None, folder: str,
                 workers: int | None = None) -> LimitBackend:
    """The backend for this process: Redis when configured; else, with several workers
    (``workers``, default ``$LLMRELAY_WORKERS``), the machine's SQLite file
    ``<folder>/limits.db``; else this process's memory."""
    if redis_url:
        from .limit_redis import RedisBackend

        return RedisBackend(redis_url)
    if workers is None:
        try:
            workers = int(os.environ.get(WORKERS_ENV) or 1)
        except ValueError:
            workers = 1
    if workers > 1:
        from .limit_sqlite import MachineBackend

        return MachineBackend(os.path.join(folder, "limits.db"))
    return MemoryBackend()

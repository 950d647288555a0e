"""The in-process cache of the levels above keys (teams, users, organisations, end users,
tags) that requests are admitted against, so a request reads no database once warm.

* A record stays ``ttl`` seconds (60), an unknown id ``negative_ttl`` (5 s).
* Records are *effective*: limits a record leaves unset are taken from its shared budget
  (``budget_id``), and a record that takes its ``budget_duration`` from the budget gets a
  window of its own the first time it is read.
* Changes are seen at once in this process (the store's change notices) and within a
  second in the others (the key cache's poll of ``key_changes`` is shared: this cache
  follows it). A change to a shared budget drops every record that uses it.
* A record whose budget window has ended is read again (the store rolls it).
* When the store fails, a cached record is served as it is; an id never read raises
  :class:`StoreUnavailable` (HTTP 503).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from .entities import BUDGET_FIELDS, MAX_ID
from .fields import text_problem
from .store import StoreUnavailable

__all__ = ["EntityCache"]

log = logging.getLogger("llmrelay.proxy.keys")
_KINDS = ("team", "user", "organization", "customer", "tag", "budget")


class EntityCache:
    """Effective level records by ``(kind, id)``; see the module docstring."""

    def __init__(self, hierarchy: Any, *, ttl: float = 60.0, negative_ttl: float = 5.0,
                 retry_after_error: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hierarchy = hierarchy
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.retry_after_error = retry_after_error
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[dict[str, Any] | None, float]] = {}
        self.loads = 0
        subscribe = getattr(hierarchy.store, "subscribe", None)
        if callable(subscribe):
            subscribe(self)

    async def get(self, kind: str, oid: str) -> dict[str, Any] | None:
        """The effective record, or None when there is none (an id no record can have,
        with NUL or an unpaired surrogate, say, is not looked up)."""
        key = (kind, oid)
        entry = self._entries.get(key)
        if entry is not None and self._clock() < entry[1]:
            rec = entry[0]
            end = rec.get("budget_reset_at") if rec is not None else None
            if end is None or datetime.now(timezone.utc) < end:
                return rec
        if entry is None and text_problem(oid, MAX_ID) is not None:
            return None
        try:
            rec = await self._load(kind, oid)
        except Exception as exc:
            if entry is None:
                if isinstance(exc, StoreUnavailable):
                    raise
                raise StoreUnavailable(f"reading {kind} {oid!r} failed: "
                                       f"{type(exc).__name__}: {exc}") from exc
            log.warning("llmrelay: reading %s %r failed (%s); serving the cached record",
                        kind, oid, exc)
            self._entries[key] = (entry[0], self._clock() + self.retry_after_error)
            return entry[0]
        ttl = self.ttl if rec is not None else self.negative_ttl
        self._entries[key] = (rec, self._clock() + ttl)
        return rec

    async def _load(self, kind: str, oid: str) -> dict[str, Any] | None:
        self.loads += 1
        rec = await self.hierarchy.get(kind, oid)
        if rec is None or kind == "budget" or not rec.get("budget_id"):
            return rec  # type: ignore[no-any-return]
        budget = await self.get("budget", rec["budget_id"])
        if budget is None:
            return rec  # type: ignore[no-any-return]
        if rec.get("budget_duration") is None and budget.get("budget_duration"):
            rec = await self.hierarchy.start_window(kind, rec, budget["budget_duration"])
        merged = dict(rec)
        for name in BUDGET_FIELDS:
            if merged.get(name) is None:
                merged[name] = budget.get(name)
        return merged

    # -- change notices (the store's, and the key cache's poll) -------------------------
    def on_key_changed(self, token: str) -> None:
        kind, sep, oid = token.partition(":")
        if not sep or kind not in _KINDS:
            return
        self._entries.pop((kind, oid), None)
        if kind == "budget":
            for key, (rec, _) in list(self._entries.items()):
                if rec is not None and rec.get("budget_id") == oid:
                    self._entries.pop(key, None)

    def on_spend_added(self, deltas: Mapping[str, float]) -> None:
        return None  # levels count spend in the limits backend; records refresh by ttl

    def clear(self) -> None:
        self._entries.clear()

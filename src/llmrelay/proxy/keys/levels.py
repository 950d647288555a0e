"""Levels: who a request's limits and budget belong to.

A request is admitted against every level it belongs to: its virtual key, and the levels
above it (its user, team, organisation, end user and tags: :func:`entity_level`, found by
``proxy/hierarchy_gate.py``). Each level has a ``scope`` (``"key:<token>"``, ``"team:<id>"``, ...) that names
its counters in the limits backend, its limits (``rpm``, ``tpm``, ``parallel``,
``max_budget``, None = unlimited), and for budgets the current window (``window``) with the
spend already stored for it (``spend``, where the backend's counter starts the first time
it sees the window).

Windows: a level with ``budget_duration`` has ``budget_reset_at``, the end of its current
window; the counter of a window is named by that end and by ``spend_epoch`` (when the
spend was last set by hand), so a new window or a hand-set spend starts a new counter and
no one has to reset anything, on any instance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .models import next_reset, utcnow

__all__ = ["Level", "entity_level", "key_level", "levels_for"]


@dataclass(frozen=True)
class Level:
    """One level of a request's limits (see the module docstring)."""

    scope: str
    label: str  # for messages: "key my-alias", "team t1"
    rpm: int | None = None
    tpm: int | None = None
    parallel: int | None = None
    max_budget: float | None = None
    window: str = "all"
    spend: float = 0.0
    window_end: datetime | None = None

    @property
    def limited(self) -> bool:
        return (self.rpm is not None or self.tpm is not None or self.parallel is not None
                or self.max_budget is not None)


def _window(reset_at: datetime | None, duration: str | None, epoch: int,
            now: datetime) -> tuple[str, datetime | None, bool]:
    """``(window id, window end, over)``: ``over`` when the stored spend belongs to an
    earlier window than now's."""
    if reset_at is None or not duration:
        return f"all:{epoch}", None, False
    over = now >= reset_at
    end = reset_at
    if over:
        try:
            end = next_reset(reset_at, duration, now)
        except ValueError:
            over = False
    return f"{int(end.timestamp())}:{epoch}", end, over


def key_level(rec: Any, unflushed: float = 0.0, now: datetime | None = None) -> Level:
    """The level of a virtual key (a ``KeyRecord``). ``unflushed``: the key's spend not
    yet in the database (this process's spool)."""
    now = now or utcnow()
    window, end, over = _window(rec.budget_reset_at, rec.budget_duration,
                                int(getattr(rec, "spend_epoch", 0) or 0), now)
    return Level(scope=f"key:{rec.token}",
                 label=f"key {rec.key_alias or rec.token[:8] + '...'}",
                 rpm=rec.rpm_limit, tpm=rec.tpm_limit, parallel=rec.max_parallel_requests,
                 max_budget=rec.max_budget, window=window,
                 spend=(0.0 if over else float(rec.spend or 0.0)) + float(unflushed or 0.0),
                 window_end=end)


def entity_level(kind: str, oid: str, rec: Mapping[str, Any], label: str,
                 now: datetime | None = None) -> Level:
    """The level of a record above keys (a team, user, organisation, end user or tag, as
    ``hierarchy.py`` stores it, its shared budget's limits merged in)."""
    window, end, over = _window(rec.get("budget_reset_at"), rec.get("budget_duration"),
                                int(rec.get("spend_epoch") or 0), now or utcnow())
    return Level(scope=f"{kind}:{oid}", label=f"{kind} {label}", rpm=rec.get("rpm_limit"),
                 tpm=rec.get("tpm_limit"), parallel=rec.get("max_parallel_requests"),
                 max_budget=rec.get("max_budget"), window=window,
                 spend=0.0 if over else float(rec.get("spend") or 0.0), window_end=end)


def levels_for(auth: Any, unflushed: Callable[[str], float] | None = None,
               extra: Sequence[Level] = ()) -> list[Level]:
    """The levels a caller's request counts against, with any limit set (none for the
    master key and anonymous callers): its key's, then ``extra`` (the levels above the
    key: ``proxy/hierarchy_gate.py``). ``unflushed(token)``: spend not yet stored."""
    rec = getattr(auth, "record", None)
    out = []
    if rec is not None:
        level = key_level(rec, unflushed(rec.token) if unflushed is not None else 0.0)
        if level.limited:
            out.append(level)
    return out + [lv for lv in extra if lv.limited]

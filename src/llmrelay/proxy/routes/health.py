"""``GET /health/liveliness`` (the process answers) and ``GET /health/readiness`` (whether
the proxy can serve and account for requests, and what is wrong when it is not all well).

Readiness ``status``:

* ``healthy`` (200): everything answers and usage records reach the database.
* ``degraded`` (200): requests are served and accounted for, but something needs a look;
  ``reasons`` says what: the database is unreachable (usage records wait in the spool),
  the spend writer is behind or stalled, the dead-letter file holds refused rows, the
  limits backend is unreachable with the ``fail_open`` policy (limits are not checked),
  the response cache's backend is unreachable (calls go upstream uncached).
* ``unavailable`` (503): new LLM requests are refused because they could not be
  accounted for: the spool is full or cannot be written, or the limits backend is
  unreachable with the ``fail_closed`` policy. A load balancer should route elsewhere.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import llmrelay

from ..sse import json_response

__all__ = ["liveliness", "readiness"]

_PROBE_KEY = "llmrelay:readiness-probe"
_PROBE_TIMEOUT = 2.0
BEHIND_SECONDS = 2.0  # records waiting this long without a write: "behind"


async def liveliness(request: Request) -> Response:
    return json_response({"status": "alive"})


async def _db_probe(store: Any) -> str | None:
    """None when the database answers a trivial query now, else why not."""
    if store is None:
        return "the key store is not open"
    try:
        if await asyncio.wait_for(store.healthy(), timeout=_PROBE_TIMEOUT):
            return None
        return "it does not answer"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


async def _cache_probe(cache: Any) -> dict[str, Any]:
    """The response cache's counters and whether its backend answers a read now (a Redis
    server that went away: ``"reachable": false``; calls then go upstream uncached)."""
    out: dict[str, Any] = {"type": str(getattr(cache, "type", "custom"))}
    stats = getattr(cache, "stats", None)
    try:
        out.update(stats() if callable(stats) else {})
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    read = getattr(getattr(cache, "backend", None), "aget_many", None)
    if callable(read):
        try:
            await asyncio.wait_for(read([_PROBE_KEY]), timeout=_PROBE_TIMEOUT)
            out["reachable"] = True
        except Exception as exc:
            out["reachable"] = False
            out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def _dead_letters(folder: str) -> tuple[str, int]:
    """The dead-letter file of the spool folder and how many records it holds."""
    from ..keys.spool import DEAD_LETTER

    path = os.path.join(folder, DEAD_LETTER)
    try:
        with open(path, "rb") as f:
            return path, sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 16),
                                                                  b""))
    except OSError:
        return path, 0


def _writer_reasons(writer: Any, stats: dict[str, Any], degraded: list[str],
                    refusing: list[str]) -> None:
    if not stats.get("spool_writable", True):
        refusing.append("the spend spool cannot be written: new requests are refused")
    elif not stats.get("accepting", True):
        refusing.append(f"the spend spool is full ({stats['spool_bytes']} of "
                        f"{stats['spool_max_bytes']} bytes waiting): new requests are "
                        "refused until the database takes the backlog")
    behind = float(stats.get("seconds_behind") or 0.0)
    if stats.get("stalled"):
        degraded.append(f"spend writer stalled: {stats['pending']} usage records "
                        f"({stats['spool_bytes']} spool bytes on this machine) waiting, "
                        f"nothing written for {behind:.0f} s ({stats.get('last_error')})")
    elif behind >= BEHIND_SECONDS:
        degraded.append(f"spend writer behind: {stats['pending']} usage records "
                        f"({stats['spool_bytes']} spool bytes) waiting for {behind:.1f} s")
    path, count = _dead_letters(writer.spool.folder)
    stats["dead_letter_records"] = count
    if count:
        degraded.append(f"{count} usage records the database refused are in {path}: "
                        "inspect them, then move the file away")


async def readiness(request: Request) -> Response:
    """See the module docstring. A database found back makes a waiting spend writer
    retry at once."""
    state = request.app.state.proxy
    db_problem = await _db_probe(state.store)
    writer = state.spend
    degraded: list[str] = []
    refusing: list[str] = []
    if db_problem is None and writer is not None:
        writer.retry_now()
    if db_problem is not None:
        degraded.append(f"database unreachable: {db_problem}; usage records wait in the "
                        "spool")
    writer_stats: dict[str, Any] = {"pending": 0, "running": False}
    if writer is not None:
        writer_stats = dict(writer.stats())
        _writer_reasons(writer, writer_stats, degraded, refusing)
    limits = _limits_state(state.limiter, degraded, refusing)
    body: dict[str, Any] = {
        "status": "unavailable" if refusing else "degraded" if degraded else "healthy",
        "reasons": refusing + degraded,
        "db": "connected" if db_problem is None else "disconnected",
        "database": "postgresql" if (state.cfg.database_url or "").startswith("postgres")
        else "sqlite",
        "spend_writer": writer_stats,
        "limits": limits,
        "key_cache": _stats(state.key_cache),
        "models": len(state.models.names()),
        "auth": "master_key" if state.auth.enabled else "off",
        "version": llmrelay.__version__,
    }
    cache = state.client.settings.cache
    if cache is not None:
        body["cache"] = probe = await _cache_probe(cache)
        if probe.get("reachable") is False:
            body["reasons"].append("the response cache's backend is unreachable: calls go "
                                   "upstream uncached")
            if body["status"] == "healthy":
                body["status"] = "degraded"
    if not await _may_see_details(request, state):
        return json_response({"status": body["status"]}, 503 if refusing else 200)
    return json_response(body, 503 if refusing else 200)


async def _may_see_details(request: Request, state: Any) -> bool:
    """``general_settings.require_auth_for_health_details`` (default off): without the
    key it asks for, readiness answers only its ``status``."""
    try:
        await state.auth.require(request.headers, state.cfg.policy.health_details_auth)
    except Exception:
        return False
    return True


def _limits_state(limiter: Any, degraded: list[str], refusing: list[str]) -> dict[str, Any]:
    stats = _stats(limiter)
    problem = stats.get("backend_problem")
    if problem:
        if stats.get("policy") == "fail_closed":
            refusing.append(f"limits backend unreachable ({problem}); policy fail_closed: "
                            "requests of keys with limits are refused")
        else:
            degraded.append(f"limits backend unreachable ({problem}); policy fail_open: "
                            "requests are admitted without their limits checked")
    return stats


def _stats(obj: Any) -> dict[str, Any]:
    stats = getattr(obj, "stats", None)
    return dict(stats()) if callable(stats) else {}

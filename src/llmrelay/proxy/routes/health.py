"""``GET /health/liveliness`` (the process answers) and ``GET /health/readiness`` (the
database, the spend writer's backlog and the response cache's backend)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import llmrelay

from ..sse import json_response

__all__ = ["liveliness", "readiness"]

_PROBE_KEY = "llmrelay:readiness-probe"
_PROBE_TIMEOUT = 2.0


async def liveliness(request: Request) -> Response:
    return json_response({"status": "alive"})


async def _db_ok(store: Any) -> bool:
    if store is None:
        return False
    try:
        return bool(await asyncio.wait_for(store.healthy(), timeout=_PROBE_TIMEOUT))
    except Exception:
        return False


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


async def readiness(request: Request) -> Response:
    """200 with ``status`` ``healthy``, or ``degraded`` when the database or the cache's
    backend is unreachable: requests with cached keys still work then, usage records wait
    in the spend writer's buffer (``spend_writer.pending``) until the database is back,
    and calls skip the cache. A database found back makes a waiting spend writer retry
    at once."""
    state = request.app.state.proxy
    db = await _db_ok(state.store)
    writer = state.spend
    if db and writer is not None:
        writer.retry_now()
    if not await _may_see_details(request, state):
        return json_response({"status": "healthy" if db else "degraded"})
    body: dict[str, Any] = {
        "status": "healthy" if db else "degraded",
        "db": "connected" if db else "disconnected",
        "database": "postgresql" if (state.cfg.database_url or "").startswith("postgres")
        else "sqlite",
        "spend_writer": _writer_stats(writer),
        "key_cache": _cache_stats(state.key_cache),
        "models": len(state.models.names()),
        "auth": "master_key" if state.auth.enabled else "off",
        "version": llmrelay.__version__,
    }
    cache = state.client.settings.cache
    if cache is not None:
        body["cache"] = probe = await _cache_probe(cache)
        if probe.get("reachable") is False:
            body["status"] = "degraded"
    return json_response(body)


async def _may_see_details(request: Request, state: Any) -> bool:
    """``general_settings.require_auth_for_health_details`` (default off): without the
    key it asks for, readiness answers only its ``status``."""
    try:
        await state.auth.require(request.headers, state.cfg.policy.health_details_auth)
    except Exception:
        return False
    return True


def _cache_stats(cache: Any) -> dict[str, Any]:
    stats = getattr(cache, "stats", None)
    return dict(stats()) if callable(stats) else {}


def _writer_stats(writer: Any) -> dict[str, Any]:
    if writer is None:
        return {"pending": 0, "running": False}
    stats = getattr(writer, "stats", None)
    if callable(stats):
        return dict(stats())
    return {"pending": int(getattr(writer, "pending", 0) or 0)}

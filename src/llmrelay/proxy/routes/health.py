"""``GET /health/liveliness`` (the process answers) and ``GET /health/readiness`` (the
database, the spend writer's backlog and the response cache)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import llmrelay

from ..sse import json_response

__all__ = ["liveliness", "readiness"]


async def liveliness(request: Request) -> Response:
    return json_response({"status": "alive"})


async def _db_ok(store: Any) -> bool:
    if store is None:
        return False
    try:
        return bool(await asyncio.wait_for(store.healthy(), timeout=2.0))
    except Exception:
        return False


async def readiness(request: Request) -> Response:
    """200 with ``status`` ``healthy``, or ``degraded`` when the database is unreachable:
    requests with cached keys still work then, and usage records wait in the spend
    writer's buffer (``spend_writer.pending``) until the database is back."""
    state = request.app.state.proxy
    db = await _db_ok(state.store)
    writer = state.spend
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
    cache = llmrelay.cache
    if cache is not None:
        stats = getattr(cache, "stats", None)
        try:
            body["cache"] = stats() if callable(stats) else {"enabled": True}
        except Exception as exc:
            body["cache"] = {"error": f"{type(exc).__name__}: {exc}"}
    return json_response(body)


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

"""Usage records and spend per key.

* ``GET /spend/logs?api_key=&user_id=&team_id=&model=&status=&request_id=&start_date=
  &end_date=&limit=&offset=``: usage records (the request log), newest first (``api_key``
  takes a key or its token; ``model`` is the model group; dates in ISO 8601). Proxy
  admins and viewers read every record, team admins their team's (``team_id``), users
  their own. With ``store_prompts_in_spend_logs`` a record holds its ``messages`` and
  ``response``.
* ``GET /spend/keys``: per key: total spend, requests and tokens (admins, viewers).

Grouped reports are in ``reports.py`` (``/spend/report``, ``/global/spend/*``).

Records reach the database through the spool and the batched spend writer. A report
first has every record spooled on this machine before the request written (this worker's
and the other workers'), waiting up to 3 s. When that fails (the database is away, a
writer is behind) the answer is a 503 (``spend_logs_incomplete``) naming what is missing,
never a silently partial list; ``?allow_partial=true`` takes the partial list instead.
Every answer says which it is in ``x-llmrelay-spend-complete: true|false``. (Records still
in the spool of another instance, on another machine, are not known here.)
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import ProxyError
from ..roles import Caller
from ..sse import json_response
from .admin import handle
from .keys import _token, query_text, record_dict
from .reports import scope

__all__ = ["keys", "logs"]


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        when.astimezone(timezone.utc)  # representable in UTC too (not year 1 at +05:00)
    except (ValueError, OverflowError):
        raise ProxyError(400, f"`{name}` must be an ISO 8601 date or date-time", param=name,
                         code="invalid_value") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _limit(value: str | None) -> int:
    if value is None:
        return 1000
    try:
        n = int(value) if len(value) <= 12 else -1
    except ValueError:
        n = -1
    if n <= 0:
        raise ProxyError(400, "`limit` must be a positive integer", param="limit",
                         code="invalid_value")
    return min(n, 100000)


async def _complete(request: Request) -> dict[str, str]:
    """Wait for the records spooled before this request; headers for the answer. Raises
    a 503 ProxyError when some are missing and the caller did not allow a partial one."""
    missing = await request.app.state.proxy.flush_spend()
    if missing is None:
        return {"x-llmrelay-spend-complete": "true"}
    if request.query_params.get("allow_partial", "").lower() in ("1", "true", "yes"):
        return {"x-llmrelay-spend-complete": "false"}
    raise ProxyError(503, f"Spend report incomplete: {missing}. Retry shortly, or pass "
                     "allow_partial=true to get what is stored.", code="spend_logs_incomplete",
                     headers={"retry-after": "2", "x-llmrelay-spend-complete": "false"})


async def _logs(request: Request, caller: Caller) -> Response:
    state = request.app.state.proxy
    q = request.query_params
    key = q.get("api_key") or q.get("key")
    asked = {"api_key": _token(key) if key else None,
             "user_id": query_text(request, "user_id"),
             "team_id": query_text(request, "team_id")}
    scoped = scope(caller, {k: v for k, v in asked.items() if v is not None})
    filters = {"key_hash": scoped.get("api_key"), "user_id": scoped.get("user_id"),
               "team_id": scoped.get("team_id"),
               "start": _date(query_text(request, "start_date"), "start_date"),
               "end": _date(query_text(request, "end_date"), "end_date"),
               "limit": _limit(q.get("limit")),
               "model": query_text(request, "model"), "status": query_text(request, "status"),
               "call_id": query_text(request, "request_id"),
               "offset": _offset(q.get("offset"))}
    headers = await _complete(request)
    rows = await state.store.spend_logs(**filters)
    return json_response([record_dict(r) for r in rows], headers=headers)


async def _keys(request: Request, caller: Caller) -> Response:
    caller.need_read_all("read the spend of every key")
    state = request.app.state.proxy
    headers = await _complete(request)
    rows: list[dict[str, Any]] = await state.store.spend_by_key()
    return json_response(rows, headers=headers)


async def logs(request: Request) -> Response:
    return await handle(request, _logs)


async def keys(request: Request) -> Response:
    return await handle(request, _keys)


def _offset(value: str | None) -> int:
    try:
        n = int(value) if value is not None and len(value) <= 12 else 0 if value is None else -1
    except ValueError:
        n = -1
    if n < 0:
        raise ProxyError(400, "`offset` must be a non-negative integer", param="offset",
                         code="invalid_value")
    return n

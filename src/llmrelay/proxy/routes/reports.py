"""Spend reports, computed in the database (``keys/reports.py``).

* ``GET /spend/report?start_date=&end_date=&group_by=day,model&api_key=&team_id=&user_id=
  &organization_id=&model=&provider=&tag=&customer_id=&status=&limit=&format=json|csv``:
  spend, requests and tokens grouped by ``day`` or ``hour`` and by ``model``,
  ``provider``, ``api_key``, ``team_id``, ``user_id``, ``organization_id``, ``tag``,
  ``end_user``, ``status`` (LiteLLM's short names work too: ``key``, ``team``, ``user``,
  ``customer``); ``format=csv`` downloads the rows.
* LiteLLM's views, the same numbers in LiteLLM's shapes: ``/global/spend/report``
  (``group_by=team|customer|api_key``), ``/global/spend``, ``/global/spend/logs``,
  ``/global/spend/keys``, ``/global/spend/teams``, ``/global/spend/models``,
  ``/global/spend/tags``, ``/spend/tags``, ``/global/spend/provider``,
  ``/global/spend/end_users`` (POST), ``/global/spend/all_tag_names``,
  ``/global/activity``, ``/global/activity/model``.

Dates: ``YYYY-MM-DD`` (whole UTC days, the end day included) or ISO date-times (end
excluded); the default is the last 30 days. Proxy admins and viewers see everything; a
team admin asking for their team (``team_id``) sees the team; everyone else sees their
own user's spend (a key without a user: its own).

Reports read what is in the database; they first wait (up to 3 s) for the usage records
spooled on this machine, as ``/spend/logs`` does, and say whether they could in
``x-llmrelay-spend-complete``.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..keys.reports import DIMENSIONS, Report, labels, run_report, totals
from ..roles import Caller
from ..sse import json_response
from .admin import bad, date_param, handle, int_param, text_param
from .keys import _token

__all__ = ["scope", "spend_report"]

_ALIASES = {"key": "api_key", "team": "team_id", "user": "user_id",
            "organization": "organization_id", "org": "organization_id",
            "customer": "end_user", "end_user_id": "end_user", "customer_id": "end_user"}
_FILTERS = {"api_key": "api_key", "team_id": "team_id", "user_id": "user_id",
            "organization_id": "organization_id", "model": "model", "provider": "provider",
            "tag": "tag", "customer_id": "end_user", "end_user": "end_user",
            "status": "status", "internal_user_id": "user_id"}


def scope(caller: Caller, filters: dict[str, str]) -> dict[str, str]:
    """The filters a caller's report gets (see the module docstring); 403 when it asks
    for someone else's spend."""
    if caller.reads_all:
        return filters
    if caller.admin_of(filters.get("team_id")):
        return filters
    if caller.user_id is not None:
        if filters.get("user_id") not in (None, caller.user_id):
            raise caller.denied("a user may read only their own spend, and team admins "
                                "their teams'")
        return {**filters, "user_id": caller.user_id}
    own_team = getattr(caller.key, "team_id", None)
    if filters.get("api_key") not in (None, caller.token) or "user_id" in filters or (
            filters.get("team_id") not in (None, own_team)):
        raise caller.denied("a key without a user may read only its own spend")
    assert caller.token is not None
    return {**filters, "api_key": caller.token}


def _range(request: Request, days: int = 30) -> tuple[datetime, datetime]:
    start = date_param(request, "start_date")
    end = date_param(request, "end_date", end=True)
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    end = end or today + timedelta(days=1)
    start = start or end - timedelta(days=days)
    return start, end


def _filters(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for param, name in _FILTERS.items():
        value = text_param(request, param)
        if value:
            out[name] = _token(value, param) if name == "api_key" else value
    return out


def _group_by(value: str | None) -> tuple[str | None, list[str]]:
    interval, dims = None, []
    for raw in (value or "").split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name in ("day", "hour", "date"):
            if interval is not None:
                raise bad("group_by", "names more than one of day and hour")
            interval = "hour" if name == "hour" else "day"
            continue
        name = _ALIASES.get(name, name)
        if name not in DIMENSIONS:
            raise bad("group_by", f"cannot group by {raw.strip()!r}; use day, hour, "
                      f"{', '.join(DIMENSIONS)}")
        if name in dims:
            raise bad("group_by", f"names {name!r} twice")
        dims.append(name)
    return interval, dims


async def _complete(request: Request) -> dict[str, str]:
    missing = await request.app.state.proxy.flush_spend()
    return {"x-llmrelay-spend-complete": "true" if missing is None else "false"}


async def _run(request: Request, report: Report) -> tuple[list[dict[str, Any]], str]:
    rows, source = await run_report(request.app.state.proxy.store, report)
    for dim, field in (("api_key", "key_alias"), ("team_id", "team_alias"),
                       ("user_id", "user_email"), ("organization_id", "organization_alias")):
        if dim in report.group_by:
            names = await labels(request.app.state.proxy.store, dim,
                                 [r[dim] for r in rows if r[dim]])
            for row in rows:
                row[field] = names.get(row[dim] or "")
    return rows, source


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return Response(out.getvalue(), media_type="text/csv", headers={
        "content-disposition": 'attachment; filename="spend-report.csv"'})


async def _spend_report(request: Request, caller: Caller) -> Any:
    start, end = _range(request)
    interval, dims = _group_by(text_param(request, "group_by"))
    report = Report(start, end, interval, dims, scope(caller, _filters(request)),
                    int_param(request, "limit", 10_000, 1, 100_000))
    fmt = (text_param(request, "format") or "json").lower()
    if fmt not in ("json", "csv"):
        raise bad("format", "must be json or csv")
    headers = await _complete(request)
    rows, source = await _run(request, report)
    if fmt == "csv":
        extra = [c for c in ("key_alias", "team_alias", "user_email", "organization_alias")
                 if rows and c in rows[0]]
        columns = (["date"] if interval else []) + dims + extra + [
            "spend", "requests", "prompt_tokens", "completion_tokens", "total_tokens",
            "failures", "cache_hits", "avg_latency_ms"]
        response = _csv(rows, columns)
        response.headers.update(headers)
        return response
    return json_response({"start_date": start.isoformat(), "end_date": end.isoformat(),
                          "interval": interval, "group_by": dims, "filters": report.filters,
                          "source": source, "rows": rows, "totals": totals(rows)},
                         headers=headers)


async def spend_report(request: Request) -> Response:
    return await handle(request, _spend_report)

"""LiteLLM's spend views (``/global/spend/*``, ``/global/activity*``, ``/spend/tags``):
the numbers of ``/spend/report`` in the shapes LiteLLM's clients and dashboards read (see
``reports.py`` for dates, scoping and completeness)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..keys.reports import Report
from ..roles import Caller
from ..sse import json_response
from .admin import bad, body_of, handle, int_param, text_param
from .keys import _token
from .reports import _complete, _filters, _range, _run, scope
from .spend_views import VIEWS

__all__ = ["ENDPOINTS", "ROUTES"]


async def _report(request: Request, caller: Caller, interval: str | None, dims: list[str],
                  filters: dict[str, str] | None = None, *, days: int = 30,
                  limit: int = 100_000, span: tuple[datetime, datetime] | None = None
                  ) -> list[dict[str, Any]]:
    start, end = span or _range(request, days)
    report = Report(start, end, interval, dims,
                    scope(caller, _filters(request) if filters is None else filters), limit)
    request.state.spend_headers = await _complete(request)
    rows, _ = await _run(request, report)
    return rows


def _nested(rows: list[dict[str, Any]], outer: str, inner: list[str]
            ) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row[outer], []).append({k: row[k] for k in inner})
    return out


async def _global_report(request: Request, caller: Caller) -> Any:
    group_by = text_param(request, "group_by") or "team"
    if group_by not in ("team", "customer", "api_key"):
        raise bad("group_by", "must be team, customer or api_key (GET /spend/report "
                  "groups by anything)")
    filters = _filters(request)
    if group_by == "api_key" or "api_key" in filters or "user_id" in filters:
        rows = await _report(request, caller, None, ["api_key", "model"], filters)
        keys = _nested(rows, "api_key", ["model", "spend", "prompt_tokens",
                                         "completion_tokens"])
        out = [{"api_key": key, "total_cost": sum(m["spend"] for m in models),
                "total_input_tokens": sum(m["prompt_tokens"] for m in models),
                "total_output_tokens": sum(m["completion_tokens"] for m in models),
                "model_details": [{"model": m["model"], "total_cost": m["spend"],
                                   "total_input_tokens": m["prompt_tokens"],
                                   "total_output_tokens": m["completion_tokens"]}
                                  for m in models]} for key, models in keys.items()]
        return sorted(out, key=lambda k: -k["total_cost"])
    who, label = ("team_id", "team_alias") if group_by == "team" else ("end_user", None)
    dims = [who, "model"] + (["api_key"] if group_by == "team" else [])
    rows = await _report(request, caller, "day", dims, filters)
    days: dict[str, dict[Any, list[dict[str, Any]]]] = {}
    for row in rows:
        name = (row.get(label) if label else None) or row[who] or "Unassigned"
        days.setdefault(row["date"], {}).setdefault(name, []).append(
            {"model": row["model"], "api_key": row.get("api_key"), "spend": row["spend"],
             "total_tokens": row["total_tokens"]})
    key = "teams" if group_by == "team" else "customers"
    name_key = "team_name" if group_by == "team" else "customer"
    return [{"group_by_day": day, key: [
        {name_key: name, "total_spend": sum(m["spend"] for m in meta), "metadata": meta}
        for name, meta in groups.items()]} for day, groups in sorted(days.items())]


async def _global_spend(request: Request, caller: Caller) -> Any:
    rows = await _report(request, caller, None, [])
    return {"spend": rows[0]["spend"] if rows else 0.0, "max_budget": None}


async def _global_logs(request: Request, caller: Caller) -> Any:
    rows = await _report(request, caller, "day", [])
    key = text_param(request, "api_key")
    extra = {"api_key": _token(key, "api_key")} if key else {}
    return [{"date": r["date"], "spend": r["spend"], **extra} for r in rows]


async def _global_keys(request: Request, caller: Caller) -> Any:
    limit = int_param(request, "limit", 10, 1, 10_000)
    rows = await _report(request, caller, None, ["api_key"], limit=limit)
    return [{"api_key": r["api_key"], "key_alias": r.get("key_alias"),
             "key_name": r.get("key_alias") or (r["api_key"] or "")[:8] + "...",
             "total_spend": r["spend"]} for r in rows]


async def _global_teams(request: Request, caller: Caller) -> Any:
    rows = await _report(request, caller, "day", ["team_id"])
    daily: dict[str, dict[str, Any]] = {}
    totals: dict[str, float] = {}
    for row in rows:
        name = row.get("team_alias") or row["team_id"] or "Unassigned"
        daily.setdefault(row["date"], {"date": row["date"]})[name] = row["spend"]
        totals[name] = totals.get(name, 0.0) + row["spend"]
    ranked = sorted(totals.items(), key=lambda t: -t[1])
    return {"daily_spend": [daily[d] for d in sorted(daily)], "teams": [n for n, _ in ranked],
            "total_spend_per_team": [{"team_id": n, "total_spend": s} for n, s in ranked[:10]]}


async def _global_models(request: Request, caller: Caller) -> Any:
    limit = int_param(request, "limit", 10, 1, 10_000)
    rows = await _report(request, caller, None, ["model"], limit=limit)
    return [{"model": r["model"], "total_spend": r["spend"]} for r in rows]


async def _tag_rows(request: Request, caller: Caller) -> list[dict[str, Any]]:
    wanted = {t.strip() for t in (text_param(request, "tags") or "").split(",") if t.strip()}
    rows = await _report(request, caller, None, ["tag"])
    return [{"individual_request_tag": r["tag"], "log_count": r["requests"],
             "total_spend": r["spend"]} for r in rows if not wanted or r["tag"] in wanted]


async def _global_tags(request: Request, caller: Caller) -> Any:
    return {"spend_per_tag": await _tag_rows(request, caller)}


async def _spend_tags(request: Request, caller: Caller) -> Any:
    return await _tag_rows(request, caller)


async def _all_tag_names(request: Request, caller: Caller) -> Any:
    rows = await _report(request, caller, None, ["tag"], days=3650)
    return {"tag_names": sorted(r["tag"] for r in rows if r["tag"])}


async def _provider(request: Request, caller: Caller) -> Any:
    rows = await _report(request, caller, None, ["provider"])
    return [{"provider": r["provider"] or "unknown", "spend": r["spend"]} for r in rows]


async def _end_users(request: Request, caller: Caller) -> Any:
    body = await body_of(request) if request.headers.get("content-length") not in (
        None, "0") else {}
    filters: dict[str, str] = {}
    if body.get("api_key") is not None:
        filters["api_key"] = _token(body["api_key"], "api_key")
    span = None
    if body.get("startTime") is not None or body.get("endTime") is not None:
        start, end = _range(request)
        span = (_when(body, "startTime") or start, _when(body, "endTime") or end)
    rows = await _report(request, caller, None, ["end_user"], filters, limit=100, span=span)
    return [{"end_user": r["end_user"], "total_count": r["requests"],
             "total_spend": r["spend"]} for r in rows]


def _when(body: dict[str, Any], name: str) -> datetime | None:
    from datetime import timezone

    value = body.get(name)
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise bad(name, "must be an ISO 8601 date-time") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _activity(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"daily_data": [{"date": r["date"], "api_requests": r["requests"],
                            "total_tokens": r["total_tokens"]} for r in rows],
            "sum_api_requests": sum(r["requests"] for r in rows),
            "sum_total_tokens": sum(r["total_tokens"] for r in rows)}


async def _global_activity(request: Request, caller: Caller) -> Any:
    rows = await _report(request, caller, "day", [])
    return _activity(sorted(rows, key=lambda r: r["date"]))


async def _activity_model(request: Request, caller: Caller) -> Any:
    rows = await _report(request, caller, "day", ["model"])
    by_model = _nested(rows, "model", ["date", "requests", "total_tokens"])
    out = [{"model": model, **_activity(sorted(days, key=lambda r: r["date"]))}
           for model, days in by_model.items()]
    return sorted(out, key=lambda m: -m["sum_api_requests"])


def _endpoint(handler: Callable[[Request, Caller], Awaitable[Any]]
              ) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request, caller: Caller) -> Any:
        result = await handler(request, caller)
        return json_response(result, headers=getattr(request.state, "spend_headers", None))

    async def endpoint(request: Request) -> Response:
        return await handle(request, run)

    return endpoint


# (method, path, endpoint, summary, response schema kind), from spend_views.VIEWS
ROUTES: list[tuple[str, str, Callable[[Request], Awaitable[Response]], str, str]] = [
    (method, path, _endpoint(globals()[handler]), summary, kind)
    for method, path, handler, summary, kind in VIEWS]
ENDPOINTS = {(method, path): endpoint for method, path, endpoint, _, _ in ROUTES}

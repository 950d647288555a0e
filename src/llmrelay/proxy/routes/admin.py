"""What the management routes share: reading a body, picking the fields a kind accepts
(LiteLLM fields llmrelay does not enforce are a 400 naming them; unknown ones are ignored
and listed in ``warnings``), query parameters, records as callers see them, and errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import ProxyError, from_exception
from ..keys.entities import BUDGET_FIELDS, KINDS, check_id, jsonable
from ..keys.fields import text_problem
from ..request import read_json
from ..roles import Caller, caller_of
from ..sse import json_response

__all__ = [
    "REFUSED",
    "Handler",
    "bad",
    "body_of",
    "check_refs",
    "date_param",
    "fields_of",
    "handle",
    "id_list",
    "int_param",
    "record_out",
    "refuse_unsupported",
    "text_param",
]

# LiteLLM fields of teams, users, organisations, customers, tags and budgets that llmrelay
# does not enforce: refused by name rather than stored and ignored.
REFUSED = {
    "model_max_budget": "per-model budgets are not supported; use max_budget",
    "model_rpm_limit": "per-model rpm limits are not supported",
    "model_tpm_limit": "per-model tpm limits are not supported",
    "tpd_limit": "tokens-per-day limits are not supported; use tpm_limit",
    "budget_limits": "several budget windows are not supported; use one budget_duration",
    "guardrails": "guardrails are not implemented",
    "policies": "policies are not implemented",
    "prompts": "prompt management is not implemented",
    "object_permission": "object permissions are not implemented",
    "router_settings": "per-team router settings are not supported",
    "model_aliases": "per-team model aliases are not supported; use key aliases",
    "team_member_budget": "budgets per team member are not supported",
    "team_member_rpm_limit": "limits per team member are not supported",
    "team_member_tpm_limit": "limits per team member are not supported",
    "team_member_budget_duration": "budgets per team member are not supported",
    "team_member_key_duration": "key durations per team member are not supported",
    "max_budget_in_team": "budgets per team member are not supported",
    "temp_budget_increase": "temporary budget increases are not supported",
    "allowed_passthrough_routes": "per-team pass-through routes are not supported",
    "secret_manager_settings": "per-team secret managers are not supported",
    "access_group_ids": "access groups by id are not supported; list model groups in models",
}

Handler = Callable[[Request, Caller], Awaitable[Any]]


def bad(field: str, problem: str, code: str = "invalid_value") -> ProxyError:
    return ProxyError(400, f"`{field}` {problem}", param=field, code=code)


async def body_of(request: Request) -> dict[str, Any]:
    """The JSON object body (400 when it is not one)."""
    state = request.app.state.proxy
    body = await read_json(request, state.cfg.max_request_size)
    if not isinstance(body, dict):
        raise ProxyError(400, "the request body must be a JSON object", code="invalid_body")
    return body


def refuse_unsupported(body: Mapping[str, Any]) -> None:
    """A 400 naming the LiteLLM fields of ``body`` llmrelay does not enforce."""
    refused = [k for k in body if k in REFUSED and body[k] not in (None, {}, [])]
    if refused:
        raise ProxyError(400, "llmrelay does not support: " + "; ".join(
            f"{k} ({REFUSED[k]})" for k in refused), param=refused[0],
            code="unsupported_setting")


def fields_of(body: Mapping[str, Any], kind_name: str, *, renamed: Mapping[str, str] = {},
              request_only: frozenset[str] = frozenset()) -> tuple[dict[str, Any], list[str]]:
    """The fields of ``body`` a ``kind`` stores (``renamed``: request name -> column),
    and warnings naming the unknown ones ignored. Refused LiteLLM fields are a 400."""
    refuse_unsupported(body)
    kind = KINDS[kind_name]
    out: dict[str, Any] = {}
    unknown = []
    for name, value in body.items():
        column = renamed.get(name, name)
        if column in kind.editable and column != kind.id:
            out[column] = value
        elif name not in request_only and name not in REFUSED and column != kind.id:
            unknown.append(name)
    warnings = [f"unknown field(s) ignored: {', '.join(sorted(unknown))}"] if unknown else []
    return out, warnings


def id_list(body: Mapping[str, Any], name: str, limit: int = 1000) -> list[str]:
    """A non-empty list of ids named ``name`` in the body."""
    value = body.get(name)
    if not isinstance(value, list) or not value or len(value) > limit:
        raise bad(name, f"must be a list of 1 to {limit} ids")
    return [check_id(name, v) for v in value]


def text_param(request: Request, name: str, *aliases: str) -> str | None:
    """A query parameter (first of ``name`` and ``aliases`` given), 400 when unusable."""
    for key in (name, *aliases):
        value = request.query_params.get(key)
        if value is not None:
            problem = text_problem(value, 256)
            if problem:
                raise bad(key, problem)
            return value
    return None


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        n = int(value) if len(value) <= 12 else low - 1
    except ValueError:
        n = low - 1
    if not low <= n <= high:
        raise bad(name, f"must be an integer from {low} to {high}")
    return n


def date_param(request: Request, name: str, *, end: bool = False) -> datetime | None:
    """An ISO 8601 date (a whole UTC day: its start, or with ``end`` the next day's start)
    or date-time (UTC when it names no zone)."""
    value = text_param(request, name)
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        when = when.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise bad(name, "must be an ISO 8601 date (2025-01-31) or date-time") from None
    if end and len(value.strip()) == 10:
        from datetime import timedelta

        try:
            when = when + timedelta(days=1)
        except OverflowError:
            raise bad(name, "is out of range") from None
    return when


async def check_refs(state: Any, fields: Mapping[str, Any]) -> None:
    """A 400 when ``organization_id`` or ``budget_id`` names no such record."""
    for name, kind, how in (("organization_id", "organization", "/organization/new"),
                            ("budget_id", "budget", "/budget/new")):
        value = fields.get(name)
        if value is None:
            continue
        check_id(name, value)
        if await state.hierarchy.get(kind, value) is None:
            raise bad(name, f"names no {kind} ({value!r}); create it with {how} first",
                      code=f"{kind}_not_found")


def record_out(kind_name: str, rec: Mapping[str, Any]) -> dict[str, Any]:
    """A record as callers see it (LiteLLM's field names; ``litellm_budget_table`` with
    the limits for organisations and customers, as LiteLLM nests them)."""
    out: dict[str, Any] = jsonable(dict(rec))
    out.pop("spend_epoch", None)
    if kind_name == "tag":
        out = {"name": out.pop("tag_name"), **out}
    if kind_name in ("organization", "customer"):
        out["litellm_budget_table"] = {"budget_id": out.get("budget_id"),
                                       **{f: out.get(f) for f in BUDGET_FIELDS}}
    return out


async def handle(request: Request, handler: Handler) -> Response:
    """Run a management handler: the caller resolved, errors as OpenAI error bodies."""
    try:
        caller = await caller_of(request)
        result = await handler(request, caller)
    except Exception as exc:
        err = from_exception(exc)
        return json_response(err.body(), err.status_code, err.headers)
    if isinstance(result, Response):
        return result
    return json_response(result)

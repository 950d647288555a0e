"""The OpenAPI operations of the hierarchy's management routes (teams, users,
organisations, customers, budgets, tags, the audit log, key blocking), merged into
``openapi.OPERATIONS``. ``op`` is ``openapi._op`` (summary, 200 response, tags, body,
query), handed in so that this module does not import its importer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["operations"]

_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_MONEY = {"type": ["number", "null"], "minimum": 0, "maximum": 1e15}
_COUNT = {"type": ["integer", "null"], "minimum": 0, "maximum": 2**31 - 1}
_ID = {"type": "string", "minLength": 1, "maxLength": 256}
_IDS = {"type": "array", "items": _ID, "minItems": 1, "maxItems": 1000}
_OBJ = {"type": "object"}
_LIST = {"type": "array", "items": _OBJ}
LEVEL_FIELDS: dict[str, Any] = {
    "models": {"type": ["array", "null"], "items": _STR}, "max_budget": _MONEY,
    "soft_budget": _MONEY, "budget_duration": {"type": ["string", "null"],
                                               "examples": ["30d", "1h"]},
    "rpm_limit": _COUNT, "tpm_limit": _COUNT, "max_parallel_requests": _COUNT,
    "budget_id": _OPT_STR, "metadata": {"type": ["object", "null"]},
    "blocked": {"type": ["boolean", "null"]}}
_MEMBER = {"type": "object", "properties": {"user_id": _OPT_STR, "user_email": _OPT_STR,
                                            "role": {"enum": ["admin", "user"]}}}
_TEAM_FIELDS = {**LEVEL_FIELDS, "team_id": _ID, "team_alias": _OPT_STR,
                "organization_id": _OPT_STR,
                "members_with_roles": {"type": "array", "items": _MEMBER},
                "admins": {"type": "array", "items": _ID},
                "members": {"type": "array", "items": _ID}}
_USER_FIELDS = {**LEVEL_FIELDS, "user_id": _ID, "user_email": _OPT_STR, "user_alias": _OPT_STR,
                "user_role": {"enum": ["proxy_admin", "proxy_admin_viewer", "internal_user",
                                       "internal_user_viewer"]},
                "teams": {"type": "array", "items": _ID},
                "auto_create_key": {"type": "boolean"}, "key_alias": _OPT_STR,
                "duration": _OPT_STR}
_ORG_FIELDS = {**LEVEL_FIELDS, "organization_id": _ID, "organization_alias": _STR}
_CUSTOMER_FIELDS = {**LEVEL_FIELDS, "user_id": _ID, "alias": _OPT_STR,
                    "default_model": _OPT_STR, "allowed_model_region": _OPT_STR}
_BUDGET_FIELDS = {k: v for k, v in LEVEL_FIELDS.items()
                  if k not in ("models", "budget_id", "blocked")}
_BUDGET_FIELDS["budget_id"] = _ID
_TAG_FIELDS = {**LEVEL_FIELDS, "name": _ID, "description": _OPT_STR}
_DELETED = {"type": "object", "required": ["deleted"], "properties": {
    "deleted": {"type": "integer"}}}
_TEAM_INFO = {"type": "object", "required": ["team_id", "team_info", "keys"], "properties": {
    "team_id": _STR, "team_info": _OBJ, "keys": _LIST, "team_memberships": _LIST}}
_USER_INFO = {"type": "object", "required": ["user_id", "user_info", "keys", "teams"],
              "properties": {"user_id": _STR, "user_info": _OBJ, "keys": _LIST,
                             "teams": _LIST}}
_USER_LIST = {"type": "object", "required": ["users", "total", "page", "page_size"],
              "properties": {"users": _LIST, "total": {"type": "integer"},
                             "page": {"type": "integer"}, "page_size": {"type": "integer"},
                             "total_pages": {"type": "integer"}}}
_AUDIT_LIST = {"type": "object", "required": ["audit_logs", "page", "page_size"],
               "properties": {"audit_logs": _LIST, "page": {"type": "integer"},
                              "page_size": {"type": "integer"},
                              "has_more": {"type": "boolean"}}}
_PAGE = {"type": "integer", "minimum": 1}


def _body(props: dict[str, Any], *required: str) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": props}


def operations(op: Callable[..., dict[str, Any]],
               json: Callable[[dict[str, Any]], dict[str, Any]],
               key_record: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The operations, keyed by (method, path)."""
    obj, lst = json(_OBJ), json(_LIST)
    out: dict[tuple[str, str], dict[str, Any]] = {}

    def add(method: str, path: str, summary: str, ok: dict[str, Any], tag: str,
            **kw: Any) -> None:
        out[(method, path)] = op(summary, ok, tags=(tag,), **kw)

    for action in ("block", "unblock"):
        add("POST", f"/key/{action}", f"{action.title()} a virtual key (proxy admins, team "
            "admins for their team's keys)", json(key_record), "Keys",
            body=_body({"key": {"type": "string"}}, "key"))
    t = "Teams"
    add("POST", "/team/new", "Create a team (proxy admins)", obj, t, body=_body(_TEAM_FIELDS))
    add("POST", "/team/update", "Change a team's settings (proxy admins)", obj, t,
        body=_body(_TEAM_FIELDS, "team_id"))
    add("POST", "/team/delete", "Delete teams with their keys and memberships (proxy admins)",
        json(_DELETED), t, body=_body({"team_ids": _IDS}, "team_ids"))
    for action in ("block", "unblock"):
        add("POST", f"/team/{action}", f"{action.title()} a team (proxy admins)", obj, t,
            body=_body({"team_id": _ID}, "team_id"))
    add("POST", "/team/member_add", "Add members (proxy admins, the team's admins)", obj, t,
        body=_body({"team_id": _ID, "member": {"anyOf": [
            _MEMBER, {"type": "array", "items": _MEMBER}]}}, "team_id", "member"))
    add("POST", "/team/member_delete", "Remove a member (proxy admins, the team's admins)",
        obj, t, body=_body({"team_id": _ID, "user_id": _ID, "user_email": _STR}, "team_id"))
    add("GET", "/team/info", "A team, its members and keys (admins, viewers, members)",
        json(_TEAM_INFO), t, query={"team_id": (_STR, False)})
    add("GET", "/team/list", "Teams (a non-admin key: its user's)", lst, t,
        query={"user_id": (_STR, False), "organization_id": (_STR, False)})
    u = "Users"
    add("POST", "/user/new", "Create a user (and a key for them; proxy admins)", obj, u,
        body=_body(_USER_FIELDS))
    add("POST", "/user/update", "Change a user (proxy admins)", obj, u,
        body=_body(_USER_FIELDS))
    add("POST", "/user/delete", "Delete users with their keys (proxy admins)",
        json(_DELETED), u, body=_body({"user_ids": _IDS}, "user_ids"))
    add("GET", "/user/info", "A user, their keys and teams (admins, viewers, themselves, "
        "their team admins)", json(_USER_INFO), u, query={"user_id": (_STR, False)})
    add("GET", "/user/list", "Users (admins, viewers)", json(_USER_LIST), u,
        query={"role": (_STR, False), "team_id": (_STR, False), "user_ids": (_STR, False),
               "user_email": (_STR, False), "page": (_PAGE, False),
               "page_size": (_PAGE, False)})
    o = "Organizations"
    add("POST", "/organization/new", "Create an organization (proxy admins)", obj, o,
        body=_body(_ORG_FIELDS, "organization_alias"))
    add("PATCH", "/organization/update", "Change an organization (proxy admins)", obj, o,
        body=_body(_ORG_FIELDS, "organization_id"))
    add("DELETE", "/organization/delete", "Delete organizations without teams (proxy "
        "admins)", json(_DELETED), o, body=_body({"organization_ids": _IDS},
                                                 "organization_ids"))
    add("GET", "/organization/info", "An organization and its teams (admins, viewers)", obj,
        o, query={"organization_id": (_STR, True)})
    add("POST", "/organization/info", "Organizations (admins, viewers)", lst, o,
        body=_body({"organizations": _IDS}, "organizations"))
    add("GET", "/organization/list", "Organizations (admins, viewers)", lst, o)
    c = "Customers"
    add("POST", "/customer/new", "Create an end user (the `user` of requests; proxy admins)",
        obj, c, body=_body(_CUSTOMER_FIELDS, "user_id"))
    add("POST", "/customer/update", "Change an end user (proxy admins)", obj, c,
        body=_body(_CUSTOMER_FIELDS, "user_id"))
    add("POST", "/customer/delete", "Delete end users (proxy admins)", json(_DELETED), c,
        body=_body({"user_ids": _IDS}, "user_ids"))
    for action in ("block", "unblock"):
        add("POST", f"/customer/{action}", f"{action.title()} end users (proxy admins)", obj,
            c, body=_body({"user_ids": _IDS}, "user_ids"))
    add("GET", "/customer/info", "An end user (admins, viewers)", obj, c,
        query={"end_user_id": (_STR, True)})
    add("GET", "/customer/list", "End users (admins, viewers)", lst, c)
    b = "Budgets"
    add("POST", "/budget/new", "Create a shared budget (proxy admins)", obj, b,
        body=_body(_BUDGET_FIELDS))
    add("POST", "/budget/update", "Change a shared budget (proxy admins)", obj, b,
        body=_body(_BUDGET_FIELDS, "budget_id"))
    add("POST", "/budget/delete", "Delete a shared budget (proxy admins)", json(_DELETED), b,
        body=_body({"id": _ID}, "id"))
    add("POST", "/budget/info", "Shared budgets (admins, viewers)", lst, b,
        body=_body({"budgets": _IDS}, "budgets"))
    add("GET", "/budget/list", "Shared budgets (admins, viewers)", lst, b)
    g = "Tags"
    add("POST", "/tag/new", "Create a tag with its budget and limits (proxy admins)", obj, g,
        body=_body(_TAG_FIELDS, "name"))
    add("POST", "/tag/update", "Change a tag (proxy admins)", obj, g,
        body=_body(_TAG_FIELDS, "name"))
    add("POST", "/tag/delete", "Delete a tag (proxy admins)", json(_DELETED), g,
        body=_body({"name": _ID}, "name"))
    add("POST", "/tag/info", "Tags by name (admins, viewers)", obj, g,
        body=_body({"names": _IDS}, "names"))
    add("GET", "/tag/list", "Tags (admins, viewers)", lst, g)
    add("GET", "/model/info", "Deployments with their health (cooldowns, latency, in "
        "flight) and their group's last 24 hours (requests, error rate, latency, spend)",
        json({"type": "object", "required": ["data"], "properties": {"data": _LIST}}),
        "Models", query={"litellm_model_id": (_STR, False)})
    a = "Audit"
    add("GET", "/audit", "The audit log of admin changes, newest first (admins, viewers)",
        json(_AUDIT_LIST), a, query={
            "table_name": (_STR, False), "object_id": (_STR, False),
            "changed_by": (_STR, False), "action": (_STR, False),
            "start_date": (_STR, False), "end_date": (_STR, False), "page": (_PAGE, False),
            "page_size": (_PAGE, False)})
    out[("GET", "/audit/{id}")] = {
        **op("One audit log entry (admins, viewers)", obj, tags=(a,)),
        "parameters": [{"name": "id", "in": "path", "required": True,
                        "schema": {"type": "string"}}]}
    return out


_Query = dict[str, tuple[dict[str, Any], bool]]
_REPORT_QUERY: _Query = {name: (_STR, False) for name in (
    "start_date", "end_date", "group_by", "api_key", "team_id", "user_id", "organization_id",
    "model", "provider", "tag", "customer_id", "status", "format")}
_REPORT_QUERY["limit"] = ({"type": "integer", "minimum": 1, "maximum": 100_000}, False)
_REPORT = {"type": "object", "required": ["rows", "totals", "group_by", "source"],
           "properties": {"rows": _LIST, "totals": _OBJ, "group_by": {
               "type": "array", "items": _STR}, "interval": _OPT_STR, "source": _STR,
               "start_date": _STR, "end_date": _STR, "filters": _OBJ}}
_VIEW_QUERY: _Query = {name: (_STR, False) for name in (
    "start_date", "end_date", "api_key", "team_id", "user_id", "internal_user_id",
    "customer_id", "model", "provider", "tag", "tags", "group_by")}
_VIEW_QUERY["limit"] = ({"type": "integer", "minimum": 1, "maximum": 10_000}, False)


def report_operations(op: Callable[..., dict[str, Any]],
                      views: Iterable[tuple[str, str, Any, str, str]]
                      ) -> dict[tuple[str, str], dict[str, Any]]:
    """``/spend/report`` and LiteLLM's spend views (``views``: spend_views.VIEWS)."""
    out = {("GET", "/spend/report"): op(
        "Spend, requests and tokens grouped by day/hour and model, key, team, user, "
        "organization, tag, end user, provider or status (format=csv downloads it)",
        {"description": "The report", "content": {
            "application/json": {"schema": _REPORT}, "text/csv": {"schema": _STR}}},
        tags=("Spend",), query=_REPORT_QUERY)}
    for method, path, _, summary, kind in views:
        schema = _LIST if kind == "array" else _OBJ
        ok = {"description": "OK", "content": {"application/json": {"schema": schema}}}
        if method == "POST":
            out[(method, path)] = op(summary, ok, tags=("Spend",), body={
                "type": "object", "properties": {"api_key": _STR, "startTime": _STR,
                                                 "endTime": _STR}})
            out[(method, path)]["requestBody"]["required"] = False
        else:
            out[(method, path)] = op(summary, ok, tags=("Spend",), query=_VIEW_QUERY)
    return out

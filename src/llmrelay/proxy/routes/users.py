"""Users, LiteLLM's endpoints and fields: ``POST /user/new``, ``/user/update``,
``/user/delete`` (``user_ids``; their keys and memberships go with them),
``GET /user/info?user_id=``, ``GET /user/list?role=&team_id=&user_ids=&page=&page_size=``.

A user has ``user_email``, ``user_alias``, ``user_role`` (``proxy_admin``,
``proxy_admin_viewer``, ``internal_user`` (default) or ``internal_user_viewer``), the
level limits (``models``, ``max_budget``, ``soft_budget``, ``budget_duration``,
``rpm_limit``, ``tpm_limit``, ``max_parallel_requests``, ``budget_id``), ``metadata``,
``blocked``. ``/user/new`` adds the user to ``teams`` (ids, or ``{"team_id", "user_role":
"admin" | "user"}``) and, unless ``auto_create_key`` is false, creates a key for them
(``key_alias``, ``duration`` apply to it), returned once as ``key``.

Proxy admins change users; viewers read them all; a user reads themselves, and team admins
read their members.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..keys.entities import check_id
from ..keys.hierarchy import NotFound
from ..roles import Caller
from .admin import (
    bad,
    body_of,
    check_refs,
    fields_of,
    handle,
    id_list,
    int_param,
    record_out,
    text_param,
)
from .keys import create_key, record_dict

__all__ = ["delete", "info", "list_users", "new", "update"]

_REQUEST_ONLY = frozenset({"user_id", "teams", "auto_create_key", "key_alias", "duration",
                           "send_invite_email", "organizations"})


def _teams(body: dict[str, Any]) -> list[tuple[str, str]]:
    value = body.get("teams")
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad("teams", "must be a list of team ids or {team_id, user_role} objects")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            role = item.get("user_role", "user")
            if role not in ("admin", "user"):
                raise bad(f"teams[{i}].user_role", "must be admin or user")
            out.append((check_id(f"teams[{i}].team_id", item.get("team_id")), role))
        else:
            out.append((check_id(f"teams[{i}]", item), "user"))
    return out


async def _new(request: Request, caller: Caller) -> Any:
    caller.need_admin("create users")
    state = request.app.state.proxy
    body = await body_of(request)
    fields, warnings = fields_of(body, "user", request_only=_REQUEST_ONLY)
    user_id = body.get("user_id")
    if user_id is not None:
        check_id("user_id", user_id)
    teams = _teams(body)
    await check_refs(state, fields)
    for team_id, _ in teams:
        if await state.hierarchy.get("team", team_id) is None:
            raise bad("teams", f"names no team ({team_id!r})", code="team_not_found")
    auto_key = body.get("auto_create_key", True)
    if not isinstance(auto_key, bool):
        raise bad("auto_create_key", "must be true or false")
    user = await state.hierarchy.create("user", fields, caller.actor, user_id)
    for team_id, role in teams:
        await state.hierarchy.add_members(team_id, [(user["user_id"], role)], caller.actor)
    out = record_out("user", user)
    out["teams"] = [t for t, _ in teams]
    if auto_key:
        key_fields = {k: body[k] for k in ("key_alias", "duration") if body.get(k) is not None}
        plaintext, rec = await create_key(state, caller, {"user_id": user["user_id"],
                                                           **key_fields})
        out.update(key=plaintext, token=rec.token, key_alias=rec.key_alias,
                   expires=record_dict(rec)["expires"])
    if warnings:
        out["warnings"] = warnings
    return out


async def _user_id(state: Any, body: dict[str, Any]) -> str:
    user_id, email = body.get("user_id"), body.get("user_email")
    if user_id is not None:
        return check_id("user_id", user_id)
    if email is None:
        raise bad("user_id", "is required (or user_email)")
    found = await state.hierarchy.list("user", {"user_email": check_id("user_email", email)},
                                       limit=1)
    if not found:
        raise NotFound("user", email)
    return str(found[0]["user_id"])


async def _update(request: Request, caller: Caller) -> Any:
    caller.need_admin("change users")
    state = request.app.state.proxy
    body = await body_of(request)
    user_id = await _user_id(state, body)
    fields, warnings = fields_of(body, "user", request_only=_REQUEST_ONLY)
    if body.get("user_id") is None:
        fields.pop("user_email", None)  # it named the user
    await check_refs(state, fields)
    out = record_out("user", await state.hierarchy.update("user", user_id, fields,
                                                           caller.actor))
    if warnings:
        out["warnings"] = warnings
    return out


async def _delete(request: Request, caller: Caller) -> Any:
    caller.need_admin("delete users")
    state = request.app.state.proxy
    gone = await state.hierarchy.delete("user", id_list(await body_of(request), "user_ids"),
                                        caller.actor)
    return {"deleted_users": [g["user_id"] for g in gone], "deleted": len(gone)}


async def _info(request: Request, caller: Caller) -> Any:
    state = request.app.state.proxy
    user_id = text_param(request, "user_id") or caller.user_id
    if user_id is None:
        raise bad("user_id", "is required")
    check_id("user_id", user_id)
    memberships = await state.hierarchy.memberships(user_id)
    if not (caller.reads_all or user_id == caller.user_id
            or any(caller.admin_of(t) for t, _ in memberships)):
        raise caller.denied("a key may read only its own user, and team admins their "
                            "members")
    await state.flush_spend()
    user = await state.hierarchy.get("user", user_id)
    if user is None:
        raise NotFound("user", user_id)
    keys = await state.store.list(user_id=user_id)
    teams = await state.hierarchy.get_many("team", [t for t, _ in memberships])
    return {"user_id": user_id, "user_info": record_out("user", user),
            "keys": [record_dict(k) for k in keys],
            "teams": [{**record_out("team", t), "user_role": dict(memberships)[t["team_id"]]}
                      for t in teams]}


async def _list(request: Request, caller: Caller) -> Any:
    caller.need_read_all("list users")
    state = request.app.state.proxy
    page = int_param(request, "page", 1, 1, 1_000_000)
    size = int_param(request, "page_size", 25, 1, 1000)
    where = {"user_role": text_param(request, "role", "user_role"),
             "user_email": text_param(request, "user_email")}
    team = text_param(request, "team_id", "team")
    ids = text_param(request, "user_ids")
    if ids:
        wanted = [check_id("user_ids", i.strip()) for i in ids.split(",") if i.strip()]
        users = [u for u in await state.hierarchy.get_many("user", wanted)
                 if all(v is None or u.get(k) == v for k, v in where.items())]
        total = len(users)
        users = users[(page - 1) * size:page * size]
    else:
        total = await state.hierarchy.count("user", where, in_team=team)
        users = await state.hierarchy.list("user", where, in_team=team, limit=size,
                                           offset=(page - 1) * size)
    return {"users": [record_out("user", u) for u in users], "total": total, "page": page,
            "page_size": size, "total_pages": (total + size - 1) // size}


async def new(request: Request) -> Response:
    return await handle(request, _new)


async def update(request: Request) -> Response:
    return await handle(request, _update)


async def delete(request: Request) -> Response:
    return await handle(request, _delete)


async def info(request: Request) -> Response:
    return await handle(request, _info)


async def list_users(request: Request) -> Response:
    return await handle(request, _list)

"""Teams, LiteLLM's endpoints and fields: ``POST /team/new``, ``/team/update``,
``/team/delete`` (``team_ids``; the teams' keys and memberships go with them),
``/team/block``, ``/team/unblock``, ``/team/member_add``, ``/team/member_delete``,
``GET /team/info?team_id=``, ``GET /team/list?user_id=&organization_id=``.

A team has ``team_alias``, ``organization_id`` (an existing organisation), ``models``
(model groups or access groups its keys may use; empty: all), ``max_budget``,
``soft_budget``, ``budget_duration``, ``rpm_limit``, ``tpm_limit``,
``max_parallel_requests``, ``budget_id``, ``metadata``, ``blocked``, and members
(``members_with_roles``: ``{"user_id" | "user_email", "role": "admin" | "user"}``;
``admins`` / ``members`` lists of user ids are accepted too). Members that are not users
yet are created as internal users.

Proxy admins do everything; team admins add and remove their team's members and read
their team; members read their team; viewers read every team.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..keys.entities import check_id
from ..keys.fields import KeyFieldError
from ..keys.hierarchy import NotFound
from ..roles import Caller
from .admin import (
    bad,
    body_of,
    check_refs,
    fields_of,
    handle,
    id_list,
    record_out,
    refuse_unsupported,
    text_param,
)
from .keys import record_dict

__all__ = ["block", "delete", "info", "list_teams", "member_add", "member_delete", "new",
           "unblock", "update"]

_REQUEST_ONLY = frozenset({"team_id", "members_with_roles", "admins", "members"})


def _member_specs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``members_with_roles`` / ``admins`` / ``members`` (or ``member`` for member_add)
    as ``{"user_id" | "user_email", "role"}`` dicts."""
    out: list[dict[str, Any]] = []
    for name in ("members_with_roles", "member"):
        value = body.get(name)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            where = f"{name}[{i}]" if isinstance(value, list) else name
            if not isinstance(item, dict):
                raise bad(where, "must be an object with user_id or user_email, and role")
            role = item.get("role", "user")
            if role not in ("admin", "user"):
                raise bad(f"{where}.role", "must be admin or user")
            if item.get("user_id") is None and item.get("user_email") is None:
                raise bad(where, "needs user_id or user_email")
            out.append({"user_id": item.get("user_id"), "user_email": item.get("user_email"),
                        "role": role})
    for name, role in (("admins", "admin"), ("members", "user")):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, list):
            raise bad(name, "must be a list of user ids")
        out += [{"user_id": check_id(name, v), "user_email": None, "role": role}
                for v in value]
    return out


async def _resolve_members(state: Any, specs: list[dict[str, Any]], caller: Caller
                           ) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """``(user_id, role)`` pairs for member specs, creating users that do not exist."""
    hierarchy = state.hierarchy
    pairs, created = [], []
    for spec in specs:
        user_id, email = spec["user_id"], spec["user_email"]
        if user_id is not None:
            check_id("user_id", user_id)
        if user_id is None:
            found = await hierarchy.list("user", {"user_email": email}, limit=1)
            user_id = found[0]["user_id"] if found else None
        if user_id is None or await hierarchy.get("user", user_id) is None:
            fields = {"user_email": email} if email is not None else {}
            try:
                user = await hierarchy.create("user", fields, caller.actor, user_id)
            except KeyFieldError as exc:
                if exc.code != "user_exists":
                    raise
            else:
                created.append(user)
                user_id = user["user_id"]
        pairs.append((user_id, spec["role"]))
    return pairs, created


async def team_out(state: Any, team: dict[str, Any]) -> dict[str, Any]:
    out = record_out("team", team)
    members = await state.hierarchy.members(team["team_id"])
    out["members_with_roles"] = [{"user_id": m["user_id"], "user_email": m["user_email"],
                                  "role": m["role"]} for m in members]
    out["admins"] = [m["user_id"] for m in members if m["role"] == "admin"]
    out["members"] = [m["user_id"] for m in members]
    return out


async def _new(request: Request, caller: Caller) -> Any:
    caller.need_admin("create teams")
    state = request.app.state.proxy
    body = await body_of(request)
    fields, warnings = fields_of(body, "team", request_only=_REQUEST_ONLY)
    team_id = body.get("team_id")
    if team_id is not None:
        check_id("team_id", team_id)
    specs = _member_specs(body)
    await check_refs(state, fields)
    team = await state.hierarchy.create("team", fields, caller.actor, team_id or None)
    if specs:
        pairs, _ = await _resolve_members(state, specs, caller)
        await state.hierarchy.add_members(team["team_id"], pairs, caller.actor)
    out = await team_out(state, team)
    if warnings:
        out["warnings"] = warnings
    return out


async def _update(request: Request, caller: Caller) -> Any:
    caller.need_admin("change a team's settings")
    state = request.app.state.proxy
    body = await body_of(request)
    team_id = check_id("team_id", body.get("team_id"))
    fields, warnings = fields_of(body, "team", request_only=_REQUEST_ONLY)
    await check_refs(state, fields)
    team = await state.hierarchy.update("team", team_id, fields, caller.actor)
    specs = _member_specs(body)
    if specs:
        pairs, _ = await _resolve_members(state, specs, caller)
        await state.hierarchy.add_members(team_id, pairs, caller.actor)
    out = await team_out(state, team)
    if warnings:
        out["warnings"] = warnings
    return out


async def _delete(request: Request, caller: Caller) -> Any:
    caller.need_admin("delete teams")
    state = request.app.state.proxy
    ids = id_list(await body_of(request), "team_ids")
    gone = await state.hierarchy.delete("team", ids, caller.actor)
    return {"deleted_teams": [g["team_id"] for g in gone], "deleted": len(gone)}


async def _set_blocked(request: Request, caller: Caller, blocked: bool) -> Any:
    caller.need_admin("block or unblock teams")
    state = request.app.state.proxy
    team_id = check_id("team_id", (await body_of(request)).get("team_id"))
    team = await state.hierarchy.update("team", team_id, {"blocked": blocked}, caller.actor,
                                        action="blocked" if blocked else "unblocked")
    return await team_out(state, team)


async def _member_add(request: Request, caller: Caller) -> Any:
    state = request.app.state.proxy
    body = await body_of(request)
    team_id = check_id("team_id", body.get("team_id"))
    caller.need_team_admin(team_id, "add members to it")
    if body.get("member") is None:
        raise bad("member", "is required: {\"user_id\" or \"user_email\", \"role\"} or a list")
    refuse_unsupported(body)
    if await state.hierarchy.get("team", team_id) is None:
        raise NotFound("team", team_id)
    pairs, created = await _resolve_members(state, _member_specs(body), caller)
    await state.hierarchy.add_members(team_id, pairs, caller.actor)
    team = await state.hierarchy.get("team", team_id)
    if team is None:
        raise NotFound("team", team_id)
    out = await team_out(state, team)
    out["updated_users"] = [record_out("user", u) for u in created]
    return out


async def _member_delete(request: Request, caller: Caller) -> Any:
    state = request.app.state.proxy
    body = await body_of(request)
    team_id = check_id("team_id", body.get("team_id"))
    caller.need_team_admin(team_id, "remove members from it")
    user_id, email = body.get("user_id"), body.get("user_email")
    if user_id is None and email is None:
        raise bad("user_id", "is required (or user_email)")
    if user_id is None:
        found = await state.hierarchy.list("user", {"user_email": check_id(
            "user_email", email)}, limit=1)
        if not found:
            raise NotFound("user", email)
        user_id = found[0]["user_id"]
    await state.hierarchy.remove_members(team_id, [check_id("user_id", user_id)], caller.actor)
    team = await state.hierarchy.get("team", team_id)
    if team is None:
        raise NotFound("team", team_id)
    return await team_out(state, team)


async def _info(request: Request, caller: Caller) -> Any:
    state = request.app.state.proxy
    team_id = text_param(request, "team_id")
    if team_id is None:
        if len(caller.teams) != 1:
            raise bad("team_id", "is required")
        team_id = next(iter(caller.teams))
    check_id("team_id", team_id)
    if not caller.member_of(team_id):
        raise caller.denied(f"only proxy admins, viewers and members of team {team_id!r} "
                            "may read it")
    team = await state.hierarchy.get("team", team_id)
    if team is None:
        raise NotFound("team", team_id)
    await state.flush_spend()
    team = await state.hierarchy.get("team", team_id) or team
    keys = await state.store.list(team_id=team_id)
    out = await team_out(state, team)
    return {"team_id": team_id, "team_info": out, "keys": [record_dict(k) for k in keys],
            "team_memberships": [{"team_id": team_id, **m}
                                 for m in out["members_with_roles"]]}


async def _list(request: Request, caller: Caller) -> Any:
    state = request.app.state.proxy
    user_id = text_param(request, "user_id")
    org = text_param(request, "organization_id")
    if not caller.reads_all:
        if user_id is not None and user_id != caller.user_id:
            raise caller.denied("a key that is not an admin's may list only its own user's "
                                "teams")
        user_id = caller.user_id
        if user_id is None:
            return []
    teams = await state.hierarchy.list("team", {"organization_id": org}, member=user_id)
    return [await team_out(state, t) for t in teams]


async def new(request: Request) -> Response:
    return await handle(request, _new)


async def update(request: Request) -> Response:
    return await handle(request, _update)


async def delete(request: Request) -> Response:
    return await handle(request, _delete)


async def block(request: Request) -> Response:
    return await handle(request, lambda r, c: _set_blocked(r, c, True))


async def unblock(request: Request) -> Response:
    return await handle(request, lambda r, c: _set_blocked(r, c, False))


async def member_add(request: Request) -> Response:
    return await handle(request, _member_add)


async def member_delete(request: Request) -> Response:
    return await handle(request, _member_delete)


async def info(request: Request) -> Response:
    return await handle(request, _info)


async def list_teams(request: Request) -> Response:
    return await handle(request, _list)

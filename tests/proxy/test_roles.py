"""The permission matrix of the management routes: every role against every route, as
LiteLLM names them. A refusal is a 403 whose message names what the caller's role allows;
no key (or an unknown one) is a 401.

Roles: M the master key; A a user with ``proxy_admin``; V ``proxy_admin_viewer``; T an
internal user who is an admin of team t1; I an internal user, member of t1; W an
``internal_user_viewer`` in t1; X a key with no user."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asgi_support import MOCK, InProcess, in_process

from llmrelay.proxy.routes.reports_litellm import ROUTES as SPEND_VIEWS

ROLES = "MAVTIWX"
_n = itertools.count()


def uid(prefix: str) -> str:
    return f"{prefix}-{next(_n)}"


class World:
    """The fixtures every case runs against, and a way to make throwaway objects."""

    def __init__(self, p: InProcess) -> None:
        self.p = p
        self.keys: dict[str, str] = {}
        self.k_t1 = self.k_t2 = ""

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        r = await self.p.http.request(method, path, json=body, headers=self.p.headers())
        assert r.status_code == 200, (path, r.text)
        return r.json()

    async def setup(self) -> None:
        a = self.admin
        await a("POST", "/organization/new", {"organization_id": "o1",
                                              "organization_alias": "acme"})
        for team in ("t1", "t2"):
            await a("POST", "/team/new", {"team_id": team, "organization_id": "o1"})
        for user, role in (("boss", "proxy_admin"), ("watcher", "proxy_admin_viewer"),
                           ("lead", "internal_user"), ("dev", "internal_user"),
                           ("peek", "internal_user_viewer"), ("other", "internal_user")):
            made = await a("POST", "/user/new", {"user_id": user, "user_role": role})
            self.keys[user] = made["key"]
        await a("POST", "/team/member_add", {"team_id": "t1", "member": [
            {"user_id": "lead", "role": "admin"}, {"user_id": "dev", "role": "user"},
            {"user_id": "peek", "role": "user"}]})
        await a("POST", "/team/member_add", {"team_id": "t2", "member": {"user_id": "other",
                                                                         "role": "user"}})
        await a("POST", "/customer/new", {"user_id": "c1"})
        await a("POST", "/budget/new", {"budget_id": "b1", "max_budget": 5})
        await a("POST", "/tag/new", {"name": "prod"})
        self.k_t1 = (await a("POST", "/key/generate", {"team_id": "t1", "user_id": "dev"}))[
            "key"]
        self.k_t2 = (await a("POST", "/key/generate", {"team_id": "t2", "user_id": "other"}))[
            "key"]
        self.keys["nouser"] = (await a("POST", "/key/generate", {}))["key"]

    def key(self, role: str) -> str | None:
        return {"M": self.p.master_key, "A": self.keys["boss"], "V": self.keys["watcher"],
                "T": self.keys["lead"], "I": self.keys["dev"], "W": self.keys["peek"],
                "X": self.keys["nouser"]}[role]

    async def dev_key(self) -> str:
        return str((await self.admin("POST", "/key/generate", {"team_id": "t1",
                                                                "user_id": "dev"}))["key"])


Case = Callable[[World], Awaitable[tuple[str, str, Any]]]


def fixed(method: str, path: str, body: Any = None) -> Case:
    async def make(w: World) -> tuple[str, str, Any]:
        return method, path, body

    return make


def made(fn: Callable[[World], Awaitable[tuple[str, str, Any]]]) -> Case:
    return fn


async def _team_delete(w: World) -> tuple[str, str, Any]:
    team = uid("tmp-team")
    await w.admin("POST", "/team/new", {"team_id": team})
    return "POST", "/team/delete", {"team_ids": [team]}


async def _member_delete(w: World) -> tuple[str, str, Any]:
    user = uid("tmp-user")
    await w.admin("POST", "/team/member_add", {"team_id": "t1", "member": {"user_id": user,
                                                                           "role": "user"}})
    return "POST", "/team/member_delete", {"team_id": "t1", "user_id": user}


async def _user_delete(w: World) -> tuple[str, str, Any]:
    user = uid("tmp-user")
    await w.admin("POST", "/user/new", {"user_id": user, "auto_create_key": False})
    return "POST", "/user/delete", {"user_ids": [user]}


async def _org_delete(w: World) -> tuple[str, str, Any]:
    org = uid("tmp-org")
    await w.admin("POST", "/organization/new", {"organization_id": org,
                                                "organization_alias": org})
    return "DELETE", "/organization/delete", {"organization_ids": [org]}


async def _customer_delete(w: World) -> tuple[str, str, Any]:
    c = uid("tmp-cust")
    await w.admin("POST", "/customer/new", {"user_id": c})
    return "POST", "/customer/delete", {"user_ids": [c]}


async def _budget_delete(w: World) -> tuple[str, str, Any]:
    b = uid("tmp-budget")
    await w.admin("POST", "/budget/new", {"budget_id": b})
    return "POST", "/budget/delete", {"id": b}


async def _tag_delete(w: World) -> tuple[str, str, Any]:
    t = uid("tmp-tag")
    await w.admin("POST", "/tag/new", {"name": t})
    return "POST", "/tag/delete", {"name": t}


async def _key_delete(w: World) -> tuple[str, str, Any]:
    return "POST", "/key/delete", {"keys": [await w.dev_key()]}


async def _key_regenerate(w: World) -> tuple[str, str, Any]:
    return "POST", "/key/regenerate", {"key": await w.dev_key()}


async def _key_block(w: World) -> tuple[str, str, Any]:
    return "POST", "/key/block", {"key": await w.dev_key()}


async def _key_t2(w: World) -> tuple[str, str, Any]:
    return "GET", f"/key/info?key={w.k_t2}", None


async def _key_update(w: World) -> tuple[str, str, Any]:
    return "POST", "/key/update", {"key": w.k_t1, "rpm_limit": 100}


def _new(path: str, **body: Any) -> Case:
    async def make(w: World) -> tuple[str, str, Any]:
        fields = {k: (uid(v) if v == "*" else v) for k, v in body.items()}
        return "POST", path, fields

    return make


W_ALL, READ = "MA", "MAV"
# route -> (request, roles answered 200; every other role gets 403)
MATRIX: dict[str, tuple[Case, str]] = {
    "team/new": (_new("/team/new", team_id="*"), W_ALL),
    "team/update": (fixed("POST", "/team/update", {"team_id": "t1", "tpm_limit": 9}), W_ALL),
    "team/delete": (_team_delete, W_ALL),
    "team/unblock": (fixed("POST", "/team/unblock", {"team_id": "t1"}), W_ALL),
    "team/member_add": (_new("/team/member_add", team_id="t1",
                             member={"user_id": "newbie", "role": "user"}), "MAT"),
    "team/member_delete": (_member_delete, "MAT"),
    "team/info": (fixed("GET", "/team/info?team_id=t1"), "MAVTIW"),
    "team/info t2": (fixed("GET", "/team/info?team_id=t2"), READ),
    "team/list": (fixed("GET", "/team/list"), ROLES),
    "user/new": (_new("/user/new", user_id="*"), W_ALL),
    "user/update": (fixed("POST", "/user/update", {"user_id": "dev", "tpm_limit": 7}), W_ALL),
    "user/delete": (_user_delete, W_ALL),
    "user/info dev": (fixed("GET", "/user/info?user_id=dev"), "MAVTI"),
    "user/info other": (fixed("GET", "/user/info?user_id=other"), READ),
    "user/list": (fixed("GET", "/user/list"), READ),
    "organization/new": (_new("/organization/new", organization_alias="x"), W_ALL),
    "organization/update": (fixed("PATCH", "/organization/update",
                                  {"organization_id": "o1", "max_budget": 50}), W_ALL),
    "organization/delete": (_org_delete, W_ALL),
    "organization/info": (fixed("GET", "/organization/info?organization_id=o1"), READ),
    "organization/info post": (fixed("POST", "/organization/info",
                                     {"organizations": ["o1"]}), READ),
    "organization/list": (fixed("GET", "/organization/list"), READ),
    "customer/new": (_new("/customer/new", user_id="*"), W_ALL),
    "customer/update": (fixed("POST", "/customer/update", {"user_id": "c1", "alias": "x"}),
                        W_ALL),
    "customer/delete": (_customer_delete, W_ALL),
    "customer/unblock": (fixed("POST", "/customer/unblock", {"user_ids": ["c1"]}), W_ALL),
    "customer/info": (fixed("GET", "/customer/info?end_user_id=c1"), READ),
    "customer/list": (fixed("GET", "/customer/list"), READ),
    "budget/new": (_new("/budget/new", budget_id="*"), W_ALL),
    "budget/update": (fixed("POST", "/budget/update", {"budget_id": "b1", "rpm_limit": 3}),
                      W_ALL),
    "budget/delete": (_budget_delete, W_ALL),
    "budget/info": (fixed("POST", "/budget/info", {"budgets": ["b1"]}), READ),
    "budget/list": (fixed("GET", "/budget/list"), READ),
    "tag/new": (_new("/tag/new", name="*"), W_ALL),
    "tag/update": (fixed("POST", "/tag/update", {"name": "prod", "description": "p"}), W_ALL),
    "tag/delete": (_tag_delete, W_ALL),
    "tag/info": (fixed("POST", "/tag/info", {"names": ["prod"]}), READ),
    "tag/list": (fixed("GET", "/tag/list"), READ),
    "audit": (fixed("GET", "/audit"), READ),
    "key/generate t1": (fixed("POST", "/key/generate", {"team_id": "t1"}), "MATI"),
    "key/generate t2": (fixed("POST", "/key/generate", {"team_id": "t2"}), W_ALL),
    "key/update": (_key_update, "MAT"),
    "key/block": (_key_block, "MAT"),
    "key/delete own": (_key_delete, "MATI"),
    "key/regenerate own": (_key_regenerate, "MATI"),
    "key/info t2": (_key_t2, READ),
    "key/list": (fixed("GET", "/key/list"), "MAVTIW"),
    # reports: everyone reads, scoped (test_spend_reports.py checks what each one sees)
    "spend/report": (fixed("GET", "/spend/report?group_by=model"), ROLES),
    "spend/report of t1": (fixed("GET", "/spend/report?team_id=t1"), "MAVTIW"),
    "spend/report of another user": (fixed("GET", "/spend/report?user_id=other"), READ),
    "spend/logs": (fixed("GET", "/spend/logs"), ROLES),
    "spend/logs of another user": (fixed("GET", "/spend/logs?user_id=other"), READ),
    "spend/keys": (fixed("GET", "/spend/keys"), READ),
    "model/info": (fixed("GET", "/model/info"), ROLES),
}
for _method, _path, *_ in SPEND_VIEWS:
    MATRIX[_path.lstrip("/")] = (fixed(_method, _path, {} if _method == "POST" else None),
                                 ROLES)


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(module_tmp: Path) -> AsyncIterator[World]:
    async with in_process(module_tmp, {"model_list": [MOCK]}) as p:
        w = World(p)
        await w.setup()
        yield w


@pytest.mark.parametrize("route", list(MATRIX))
async def test_role_matrix(world: World, route: str) -> None:
    make, allowed = MATRIX[route]
    answers = {}
    for role in ROLES:
        method, path, body = await make(world)
        r = await world.p.http.request(method, path, json=body,
                                       headers=world.p.headers(world.key(role)))
        answers[role] = r.status_code
        if r.status_code == 403:
            error = r.json()["error"]
            assert error["code"] == "insufficient_permissions", (route, role, error)
            assert "may" in error["message"] and "role" in error["message"], error
    expected = {role: 200 if role in allowed else 403 for role in ROLES}
    assert answers == expected, route


async def test_without_a_key_every_route_is_401(world: World) -> None:
    for route, (make, _) in MATRIX.items():
        method, path, body = await make(world)
        for headers in ({}, {"Authorization": "Bearer sk-unknown-key-123"}):
            r = await world.p.http.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (route, r.text)


async def test_blocked_users_and_keys_manage_nothing(world: World) -> None:
    key = world.key("T")
    await world.admin("POST", "/user/update", {"user_id": "lead", "blocked": True})
    try:
        r = await world.p.http.get("/team/info?team_id=t1", headers=world.p.headers(key))
        assert r.status_code == 401 and r.json()["error"]["code"] == "user_blocked"
    finally:
        await world.admin("POST", "/user/update", {"user_id": "lead", "blocked": False})
    r = await world.p.http.get("/team/info?team_id=t1", headers=world.p.headers(key))
    assert r.status_code == 200


async def test_matrix_covers_every_management_route() -> None:
    from llmrelay.proxy.routes.management import routes

    named = {"/" + name.split(" ")[0] for name in MATRIX}
    # block and unblock share their handler; /audit/{id} is read like /audit
    twins = {"/team/block", "/key/unblock", "/customer/block", "/audit/{id}"}
    paths = {route.path for route in routes()}  # type: ignore[attr-defined]
    assert paths - twins <= named, sorted(paths - twins - named)
